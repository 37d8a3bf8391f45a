/* verify.c - whether checkpoint and history files are intact (ot_verify.h): the one place that
 * says how a file of omptrain's is verified. */
#include "ot_verify.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_h5.h"
#include "ot_history.h"
#include "ot_outdir.h"

/* The walk over a file's objects: every dataset against its checksum, the first failure kept. */
typedef struct {
    ot_verify_t *v;
    const char *must; /* the groups whose attributes must carry a checksum, as the root
                         attribute OT_H5_CRC_GROUPS names them ("/input /optimizer") */
    int damaged;
} walk_t;

/* Is group name (relative to the root: "input") one of the space-separated absolute paths in
 * list? */
static int listed(const char *list, const char *name)
{
    const size_t len = strlen(name);
    for (const char *s = list; *s;) {
        const size_t w = strcspn(s, " ");
        if (s[0] == '/' && w == len + 1 && strncmp(s + 1, name, len) == 0)
            return 1;
        s += w;
        s += strspn(s, " ");
    }
    return 0;
}

/* A group with attributes of its own (/input) against their checksum. A group that does not
 * open, or whose attributes cannot even be searched for one (a damaged attribute message), is
 * damaged too: it had passed as a group without a checksum. So is one of w->must without a
 * checksum (the name of its crc32 attribute damaged had left its attributes unchecked). */
static herr_t visit_group(hid_t obj, const char *name, walk_t *w)
{
    hid_t g = H5Gopen2(obj, name, H5P_DEFAULT);
    uint32_t have = 0, want = 0;
    htri_t has = g >= 0 ? H5Aexists(g, OT_H5_CRC) : -1;
    int r = has > 0 ? ot_h5_attrs_crc_check(g, &have, &want) : has == 0 ? 0 : -2;
    if (g >= 0)
        H5Gclose(g);
    if (r == 0 && has == 0 && listed(w->must, name)) {
        snprintf(w->v->why, sizeof w->v->why, "/%s has no checksum over its attributes "
                 "(attribute %s), which this file's format writes", name, OT_H5_CRC);
        w->damaged = 1;
        return 1;
    }
    if (r == 0)
        return 0;
    if (g < 0)
        snprintf(w->v->why, sizeof w->v->why, "/%s cannot be opened (damaged file?)", name);
    else if (r == 1)
        snprintf(w->v->why, sizeof w->v->why, "/%s: its attributes are damaged: their checksum "
                 "is 0x%08x but they give 0x%08x", name, have, want);
    else
        snprintf(w->v->why, sizeof w->v->why, "/%s: its attributes cannot be read (damaged "
                 "file?)", name);
    w->damaged = 1;
    return 1;
}

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *arg)
{
    walk_t *w = arg;
    if (info->type == H5O_TYPE_GROUP && strcmp(name, ".") != 0)
        return visit_group(obj, name, w);
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    uint32_t have = 0, want = 0;
    char why[128];
    /* its storage, type and size before any value is read */
    int own = d >= 0 ? ot_h5_own_dataset(d, why) : -1;
    int r = own < 0 ? -3 : ot_h5_crc_check(d, &have, &want);
    if (d >= 0)
        H5Dclose(d);
    w->v->datasets++;
    if (r == 0)
        return 0;
    if (r == -3 && d >= 0)
        snprintf(w->v->why, sizeof w->v->why, "/%s %s", name, why);
    else if (r == 1)
        snprintf(w->v->why, sizeof w->v->why, "/%s is damaged: its checksum is 0x%08x but its "
                 "data give 0x%08x", name, have, want);
    else if (r == -1)
        snprintf(w->v->why, sizeof w->v->why, "/%s has no checksum (attribute %s)", name,
                 OT_H5_CRC);
    else
        snprintf(w->v->why, sizeof w->v->why, "/%s cannot be read (damaged file?)", name);
    w->damaged = 1;
    return 1; /* stop at the first damage */
}

/* Silence HDF5's printer when the process exits. libhdf5 (1.10.8 at least) leaks free-list
 * blocks on the error path of a walk over damaged metadata (an object header continuation
 * past the end of the file, say); its exit handler then cannot empty its free lists and, when
 * the printer is on, writes "HDF5: infinite loop closing library" and a line of hundreds of
 * package names after omptrain's own message. Exit handlers run in reverse order of
 * registration, so this one, registered after the library's own (the library is open by now),
 * runs first. Registered once. */
static void printer_off(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_exit(void)
{
    static int registered;
    if (!registered)
        registered = atexit(printer_off) == 0;
}

/* The file's root attribute format_version, 0 when it has none or it is not one integer (a
 * file from elsewhere may declare any type and number of values: they are checked before
 * anything is read into v). */
static int root_format(hid_t f)
{
    int v = 0;
    if (ot_h5_attr_get(f, "format_version", H5T_INTEGER, H5T_NATIVE_INT, &v, 0, 0, NULL, 0))
        v = 0;
    return v;
}

/* What the open file f is by its top-level names: "checkpoint" by its /model or by the root
 * attribute config with /state (a damaged link name "model" leaves both; predict's outputs
 * carry config alone), "history" by either of its groups (a damaged link name "steps" leaves
 * /epochs), else NULL. */
static const char *file_kind(hid_t f)
{
    if (H5Lexists(f, "model", H5P_DEFAULT) > 0 ||
        (H5Aexists(f, "config") > 0 && H5Lexists(f, "state", H5P_DEFAULT) > 0))
        return "checkpoint";
    if (H5Lexists(f, "steps", H5P_DEFAULT) > 0 || H5Lexists(f, "epochs", H5P_DEFAULT) > 0)
        return "history";
    return NULL;
}

int ot_verify_h5(hid_t f, ot_verify_t *v)
{
    memset(v, 0, sizeof *v);
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    const char *kind = file_kind(f);
    const int checkpoint = kind && strcmp(kind, "checkpoint") == 0;
    const int history = kind && strcmp(kind, "history") == 0;
    snprintf(v->kind, sizeof v->kind, "%s",
             checkpoint ? "checkpoint" : history ? "history" : "HDF5 file");
    v->format_version = root_format(f);
    uint32_t have = 0, want = 0;
    int rc = OT_EFORMAT;
    char must[OT_CKPT_MAX_STRING + 16] = "";
    switch (ot_h5_attrs_crc_check(f, &have, &want)) {
    case 0:
        break;
    case 1:
        snprintf(v->why, sizeof v->why, "the root attributes are damaged: their checksum is "
                 "0x%08x but they give 0x%08x", have, want);
        goto out;
    case -1:
        if (v->format_version >= 2) { /* format 2 has written it from the start */
            snprintf(v->why, sizeof v->why, "the root attributes have no checksum (attribute "
                     "%s), which format %d writes", OT_H5_CRC, v->format_version);
            goto out;
        }
        if (v->format_version == 0) /* not one of omptrain's checkpoints or histories */
            snprintf(v->why, sizeof v->why, "no checksums to verify (no format_version "
                     "attribute on /: not an omptrain checkpoint or history file)");
        else
            snprintf(v->why, sizeof v->why, "no checksums to verify (format_version %d; "
                     "omptrain writes them from format 2 on)", v->format_version);
        v->unchecked = 1;
        goto out;
    default:
        snprintf(v->why, sizeof v->why, "the root attributes cannot be read");
        goto out;
    }
    /* a format past this build's, its version vouched for by the root checksum (a damaged
     * version fails that): a later omptrain's file, whose layout this one does not know */
    const int newest = checkpoint ? OT_CKPT_FORMAT : history ? OT_HISTORY_FORMAT : 0;
    if (newest && v->format_version > newest) {
        v->newer = 1;
        ot_h5_newer_format(v->why, sizeof v->why, v->format_version, v->kind, newest);
        goto out;
    }
    /* the groups whose attributes must carry a checksum: those the root names (a file of
     * format 2 from before OT_H5_CRC_GROUPS names none), and a checkpoint's /input, which has
     * carried one since format 2 wrote it */
    if (H5Aexists(f, OT_H5_CRC_GROUPS) > 0 &&
        ot_h5_attr_get(f, OT_H5_CRC_GROUPS, H5T_STRING, -1, must, sizeof must,
                       OT_CKPT_MAX_STRING, NULL, 0)) {
        snprintf(v->why, sizeof v->why, "the root attribute %s is not one string",
                 OT_H5_CRC_GROUPS);
        goto out;
    }
    if (checkpoint)
        strncat(must, " /input", sizeof must - strlen(must) - 1);
    for (const char *s = must; *s;) { /* a group named there must be there */
        const size_t len = strcspn(s, " ");
        char name[OT_CKPT_MAX_STRING + 16];
        snprintf(name, sizeof name, "%.*s", (int)len, s);
        if (len > 0 && strcmp(name, "/input") != 0 && H5Lexists(f, name, H5P_DEFAULT) <= 0) {
            snprintf(v->why, sizeof v->why, "%.200s is missing (the root attribute %s names "
                     "it)", name, OT_H5_CRC_GROUPS);
            goto out;
        }
        s += len;
        s += strspn(s, " ");
    }
    walk_t w = {v, must, 0};
    if (H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, visit, &w) < 0 && !w.damaged) {
        snprintf(v->why, sizeof v->why, "its objects cannot be listed (damaged metadata)");
        quiet_exit();
    } else if (!w.damaged) {
        /* all the loaders read is there, of the type they read (ot_checkpoint.h); for a
         * history, all that a resume appends to and a reader reads (ot_history.h) */
        if (checkpoint && ot_ckpt_check_layout(f, v->why, sizeof v->why) < 0)
            goto out;
        if (history && ot_history_check_layout(f, v->why, sizeof v->why) < 0)
            goto out;
        rc = OT_OK;
    }
out:
    ot_h5_restore(&q);
    v->intact = rc == OT_OK;
    return rc;
}

/* path opened read-only as HDF5 (the caller silences HDF5's printer): the file, or
 * H5I_INVALID_HID with *is 0 (not HDF5), > 0 (HDF5 that does not open) or < 0 (unreadable). */
static hid_t open_hdf5(const char *path, htri_t *is)
{
#if H5_VERSION_GE(1, 12, 0)
    *is = H5Fis_accessible(path, H5P_DEFAULT);
#else
    *is = H5Fis_hdf5(path);
#endif
    return *is > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
}

int ot_verify_replaceable(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return OT_OK; /* nothing there to lose (a directory is refused where it is written) */
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    htri_t is;
    hid_t f = open_hdf5(path, &is);
    const char *kind = f < 0 ? NULL : file_kind(f);
    if (f >= 0)
        H5Fclose(f);
    ot_h5_restore(&q);
    if (!kind)
        return OT_OK;
    ot_error("%s: holds an omptrain %s, which this would replace; expected another file name",
             path, kind);
    return OT_EIO;
}

int ot_verify_regular(const char *path, const char *expected, char *why, size_t n)
{
    struct stat st;
    if (!path[0]) {
        snprintf(why, n, "an empty path, expected %s", expected);
        return OT_EIO;
    }
    if (stat(path, &st) != 0) {
        snprintf(why, n, "%s", strerror(errno));
        return OT_EIO;
    }
    /* only a regular file: opening a FIFO would wait for a writer for ever, and a device has
     * no size (/dev/zero read as "an empty file") */
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, n, "is %s, expected %s",
                 S_ISDIR(st.st_mode)    ? "a directory"
                 : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                 : S_ISCHR(st.st_mode)  ? "a character device"
                 : S_ISBLK(st.st_mode)  ? "a block device"
                 : S_ISSOCK(st.st_mode) ? "a socket"
                                        : "not a regular file",
                 expected);
        return OT_EIO;
    }
    return OT_OK;
}

int ot_verify_file(const char *path, ot_verify_t *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->kind, sizeof v->kind, "file");
    struct stat st;
    if (ot_verify_regular(path, "a checkpoint or history file", v->why, sizeof v->why) ||
        stat(path, &st) != 0)
        return OT_EIO;
    FILE *probe = fopen(path, "rb"); /* HDF5 calls a file it cannot read damaged */
    if (!probe) {
        snprintf(v->why, sizeof v->why, "%s", strerror(errno));
        return OT_EIO;
    }
    fclose(probe);
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    htri_t is;
    hid_t f = open_hdf5(path, &is);
    int rc;
    if (is == 0) { /* a flipped signature byte reads as much as a text file */
        v->not_hdf5 = 1;
        snprintf(v->why, sizeof v->why, "%s", st.st_size == 0 ? "an empty file"
                 : "no HDF5 signature (a damaged file, or another kind of file)");
        rc = OT_EFORMAT;
    } else if (f < 0) {
        snprintf(v->why, sizeof v->why, "cannot open as HDF5: truncated or damaged");
        rc = OT_EFORMAT;
    } else {
        rc = ot_verify_h5(f, v);
    }
    if (f >= 0 && H5Fclose(f) < 0 && rc == OT_OK) {
        snprintf(v->why, sizeof v->why, "cannot be closed cleanly (damaged metadata)");
        rc = OT_EFORMAT;
    }
    ot_h5_restore(&q);
    v->intact = rc == OT_OK;
    return rc;
}

/* Checkpoint names, the newest epoch first. */
static int cmp_epoch_desc(const void *a, const void *b)
{
    long x = ot_ckpt_epoch_of(*(char *const *)a), y = ot_ckpt_epoch_of(*(char *const *)b);
    return (x < y) - (x > y);
}

int ot_verify_newest(const char *dir, char *path, size_t n)
{
    char **names;
    size_t count, skipped = 0;
    int rc = ot_run_files(dir, OT_RUN_CHECKPOINT, &names, &count);
    if (rc)
        return rc;
    if (count > 1)
        qsort(names, count, sizeof *names, cmp_epoch_desc);
    rc = OT_EFORMAT;
    for (size_t i = 0; i < count && rc; i++) {
        ot_verify_t v;
        int w = snprintf(path, n, "%s/%s", dir, names[i]);
        if (w < 0 || (size_t)w >= n)
            continue;
        if (ot_verify_file(path, &v) == OT_OK) {
            rc = OT_OK;
            break;
        }
        fprintf(stderr, "omptrain: %s: skipped: %s\n", path, v.why);
        skipped++;
    }
    if (rc)
        ot_error("%s: no checkpoint that verifies (%zu checkpoint-eNNNN.h5 file%s%s)", dir,
                 count, count == 1 ? "" : "s", skipped ? ", each skipped above" : " found");
    ot_run_files_free(names, count);
    return rc;
}

/* One file's verdict line on stdout; returns ot_verify_file's code. */
static int verify_one(const char *path)
{
    ot_verify_t v;
    int r = ot_verify_file(path, &v);
    if (r == OT_OK)
        printf("%s: ok (%s, format %d, %zu datasets verified)\n", path, v.kind,
               v.format_version, v.datasets);
    else
        printf("%s: %s: %s\n", path[0] ? path : "''",
               r == OT_EIO  ? "CANNOT READ"
               : v.not_hdf5 ? "NOT HDF5"
               : v.unchecked ? "UNVERIFIED"
               : v.newer   ? "NEWER FORMAT"
                           : "DAMAGED",
               v.why);
    return r;
}

/* A run directory: its files a run writes (checkpoint-eNNNN.h5, latest.h5, history.h5), in
 * name order, each verified; none there is OT_EFORMAT, with a message. */
static int verify_dir(const char *dir)
{
    char **names;
    size_t count;
    int rc = ot_run_files(dir, OT_RUN_CHECKPOINT | OT_RUN_LATEST | OT_RUN_HISTORY, &names, &count);
    if (rc)
        return rc;
    if (count == 0) {
        ot_error("%s: no checkpoint or history file there (checkpoint-eNNNN.h5, latest.h5, "
                 "history.h5), expected a run directory", dir);
        rc = OT_EFORMAT;
    }
    for (size_t i = 0; i < count; i++) {
        char path[OT_PATH_MAX];
        int w = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int r = w < 0 || (size_t)w >= sizeof path ? OT_EIO : verify_one(path);
        if (r && !rc)
            rc = r;
    }
    ot_run_files_free(names, count);
    /* an earlier run that a new one set aside here is another run: named, not verified */
    char prev[OT_PATH_MAX + 16];
    struct stat st;
    snprintf(prev, sizeof prev, "%s/%s", dir, OT_PREVIOUS_NAME);
    if (stat(prev, &st) == 0 && S_ISDIR(st.st_mode))
        printf("%s: an earlier run, set aside by a later one (not verified here: omptrain "
               "verify %s)\n", prev, prev);
    return rc;
}

int ot_verify_command(int n_paths, char **paths)
{
    int rc = OT_OK;
    for (int i = 0; i < n_paths; i++) {
        struct stat st;
        int r = stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode) ? verify_dir(paths[i])
                                                                : verify_one(paths[i]);
        if (r && !rc)
            rc = r;
    }
    fflush(stdout);
    return rc;
}
