/* test_outfile.c - atomic output files (src/outfile.c): the bytes arrive whole, an existing
 * file is replaced, and a write that cannot happen says so in one line and leaves neither a
 * temporary file nor a change behind; whether a file could be created, asked first; "-" as
 * standard output; a symbolic link's target replaced and the link kept; a character device
 * or a FIFO written in place, never replaced; several outputs all or none. */
#define _XOPEN_SOURCE 700 /* symlink, mkfifo */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_outfile.h"
#include "ot_test.h"
#include "tiny_test.h"

static int setup(void)
{
    return ot_test_scratch_init("outfile");
}

/* Files in the scratch directory. */
static int count_files(void)
{
    DIR *d = opendir(ot_test_scratch);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    if (d)
        closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 16);
    *n = f && buf ? fread(buf, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    return buf;
}

static void test_write_and_replace(void)
{
    char path[256];
    size_t n;
    ot_test_path(path, sizeof path, "out.csv");
    CU_ASSERT_EQUAL(ot_write_atomic(path, "first\n", 6), OT_OK);
    char *got = slurp(path, &n);
    CU_ASSERT(n == 6 && memcmp(got, "first\n", 6) == 0);
    free(got);
    CU_ASSERT_EQUAL(ot_write_atomic(path, "second, longer\n", 15), OT_OK);
    got = slurp(path, &n);
    CU_ASSERT(n == 15 && memcmp(got, "second, longer\n", 15) == 0);
    free(got);
    CU_ASSERT_EQUAL(count_files(), 1); /* no temporary file left */
    CU_ASSERT_EQUAL(ot_write_atomic("rel-out.tmp-test", "x", 1), OT_OK); /* no directory part */
    CU_ASSERT_EQUAL(remove("rel-out.tmp-test"), 0);
}

static void test_cannot_write(void)
{
    char path[256], dir[256];
    ot_test_path(path, sizeof path, "missing/out.h5");
    OT_EXPECT_ONE_LINE(ot_write_atomic(path, "x", 1), OT_EIO, "missing/out.h5: cannot create the "
                                                              "file (as ");
    /* a directory in the way of the rename: the old directory stays, no temporary file */
    ot_test_path(dir, sizeof dir, "adir");
    CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
    int before = count_files();
    OT_EXPECT_ONE_LINE(ot_write_atomic(dir, "x", 1), OT_EIO, "adir: cannot rename ");
    CU_ASSERT_EQUAL(count_files(), before);
    struct stat st;
    CU_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    OT_EXPECT_ONE_LINE(ot_write_atomic("", "x", 1), OT_EIO, "expected the path of a file");
}

/* Whether a file could be created, asked before anything is written: a new name in an
 * existing directory, or a relative one, yes (nothing created); a missing directory, a file
 * where the directory should be, a directory at the path: one line each. */
static void test_writable(void)
{
    char path[256], file[256], want[600];
    const int before = count_files();
    ot_test_path(path, sizeof path, "new.h5");
    CU_ASSERT_EQUAL(ot_outfile_writable(path), OT_OK);
    CU_ASSERT_EQUAL(ot_outfile_writable("relative.csv"), OT_OK);
    CU_ASSERT_EQUAL(count_files(), before);
    ot_test_path(path, sizeof path, "nodir/p.csv");
    OT_EXPECT_ONE_LINE(ot_outfile_writable(path), OT_EIO, "nodir/p.csv: cannot create the file: ");
    OT_EXPECT_ONE_LINE(ot_outfile_writable(path), OT_EIO, "nodir: No such file or directory");
    ot_test_path(file, sizeof file, "plain");
    CU_ASSERT_EQUAL_FATAL(ot_write_atomic(file, "x", 1), OT_OK);
    ot_test_path(path, sizeof path, "plain/p.csv");
    OT_EXPECT_ONE_LINE(ot_outfile_writable(path), OT_EIO, "plain is not a directory");
    OT_EXPECT_ONE_LINE(ot_outfile_writable(ot_test_scratch), OT_EIO,
                       "is a directory, expected a file name");
    /* a read-only file is not replaced (not even by root), through a link neither */
    CU_ASSERT_FATAL(chmod(file, 0444) == 0);
    snprintf(want, sizeof want, "%s: is read-only (mode 0444); expected a file it may replace "
             "(chmod u+w) or another path", file);
    OT_EXPECT_ONE_LINE(ot_outfile_writable(file), OT_EIO, want);
    ot_test_path(path, sizeof path, "to-plain");
    CU_ASSERT_FATAL(symlink(file, path) == 0);
    OT_EXPECT_ONE_LINE(ot_outfile_writable(path), OT_EIO, "is read-only (mode 0444)");
    CU_ASSERT_FATAL(chmod(file, 0644) == 0);
    CU_ASSERT_EQUAL(ot_outfile_writable(file), OT_OK);
    CU_ASSERT_EQUAL(ot_outfile_writable(path), OT_OK);
}

/* An output against the command's other files: the same file however spelt (another
 * directory path to it, a symbolic link) or, for two files not there yet, the same resolved
 * name, is refused in one line naming what it would replace; other files, an absent entry
 * (NULL) and a new name beside an existing file pass. */
static void test_distinct(void)
{
    char in[256], other[256], spelt[300], link[256], a[256], b[300];
    ot_test_path(in, sizeof in, "in.idx");
    CU_ASSERT_FATAL(ot_write_atomic(in, "data", 4) == OT_OK);
    ot_test_path(other, sizeof other, "other.idx");
    CU_ASSERT_FATAL(ot_write_atomic(other, "data", 4) == OT_OK);
    snprintf(spelt, sizeof spelt, "%s/./../%s/in.idx", ot_test_scratch,
             strrchr(ot_test_scratch, '/') + 1);
    ot_test_path(link, sizeof link, "link.idx");
    CU_ASSERT_FATAL(symlink(in, link) == 0);
    const char *const files[] = {NULL, in};
    const char *const what[] = {"the labels file (--labels)", "the input file (INPUT)"};
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(in, "--csv", files, what, 2), OT_ECONFIG,
                       "in.idx: --csv names the input file (INPUT), which it would replace; "
                       "expected another file name");
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(spelt, "--csv", files, what, 2), OT_ECONFIG,
                       "names the input file (INPUT)");
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(link, "--csv", files, what, 2), OT_ECONFIG,
                       "names the input file (INPUT)");
    CU_ASSERT_EQUAL(ot_outfile_distinct(other, "--csv", files, what, 2), OT_OK);
    ot_test_path(a, sizeof a, "new.csv");
    CU_ASSERT_EQUAL(ot_outfile_distinct(a, "--csv", files, what, 2), OT_OK);
    /* two outputs not written yet: one name, however spelt, is one file */
    snprintf(b, sizeof b, "%s/../%s/new.csv", ot_test_scratch, strrchr(ot_test_scratch, '/') + 1);
    const char *const outs[] = {b};
    const char *const out_what[] = {"the predictions file (--predictions)"};
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(a, "--csv", outs, out_what, 1), OT_ECONFIG,
                       "--csv names the predictions file (--predictions)");
    ot_test_path(b, sizeof b, "new.h5");
    CU_ASSERT_EQUAL(ot_outfile_distinct(a, "--csv", outs, out_what, 1), OT_OK);
    CU_ASSERT_EQUAL(ot_outfile_distinct("relative-a.csv", "--csv", outs, out_what, 1), OT_OK);
}

/* Run ot_write_stdout with stdout on the file at path (or, path NULL, on /dev/full); returns
 * its code, stdout restored. */
static int write_stdout_to(const char *path, int binary, const char *data)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO), fd = open(path ? path : "/dev/full", O_WRONLY | O_CREAT |
                                                  O_TRUNC, 0644);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    int rc = ot_write_stdout("--csv", binary, data, strlen(data));
    fflush(stdout);
    clearerr(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    return rc;
}

/* "-" is standard output and nothing else is; the bytes go there whole, and a write that
 * fails (a full device) says so in one line naming the option. */
static void test_stdout(void)
{
    CU_ASSERT_TRUE(ot_outfile_is_stdout("-"));
    CU_ASSERT_FALSE(ot_outfile_is_stdout("-x"));
    CU_ASSERT_FALSE(ot_outfile_is_stdout("./-"));
    CU_ASSERT_FALSE(ot_outfile_is_stdout(""));
    CU_ASSERT_FALSE(ot_outfile_is_stdout(NULL));
    char path[256];
    size_t n;
    ot_test_path(path, sizeof path, "stdout.txt");
    CU_ASSERT_EQUAL(write_stdout_to(path, 1, "index,class\n0,7\n"), OT_OK);
    char *got = slurp(path, &n);
    CU_ASSERT(n == 16 && memcmp(got, "index,class\n0,7\n", 16) == 0);
    free(got);
    OT_EXPECT_ONE_LINE(write_stdout_to(NULL, 0, "x\n"), OT_EIO,
                       "--csv -: cannot write to standard output: No space left on device");
}

/* ---------------------------------------------------------------- links, devices, FIFOs */

/* Whether path (not followed) is of type mode (S_IFLNK, S_IFCHR, S_IFIFO, S_IFREG). */
static int is_type(const char *path, mode_t mode)
{
    struct stat st;
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == mode;
}

/* Files whose name holds ".tmp" in the scratch directory: temporary files left. */
static int count_tmp(void)
{
    DIR *d = opendir(ot_test_scratch);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* A symbolic link is followed: its target (through a chain, a relative link, a dangling one
 * to a file not there yet) gets the bytes and the link stays a link (until 2026-12 a regular
 * file replaced the link); a loop of links is one line, and leaves the links. */
static void test_links(void)
{
    char target[256], link[256], chain[256], sub[256], rel[256], dangling[256], made[256];
    char loop_a[256], loop_b[256];
    ot_test_path(target, sizeof target, "target.csv");
    CU_ASSERT_FATAL(ot_write_atomic(target, "old\n", 4) == OT_OK);
    CU_ASSERT_FATAL(symlink(target, ot_test_path(link, sizeof link, "link.csv")) == 0);
    CU_ASSERT_FATAL(symlink("link.csv", ot_test_path(chain, sizeof chain, "chain.csv")) == 0);
    CU_ASSERT_EQUAL(ot_write_atomic(link, "new\n", 4), OT_OK);
    CU_ASSERT(is_type(link, S_IFLNK) && is_type(target, S_IFREG) && ot_tiny_holds(target, "new\n"));
    CU_ASSERT_EQUAL(ot_write_atomic(chain, "chain\n", 6), OT_OK);
    CU_ASSERT(is_type(chain, S_IFLNK) && is_type(link, S_IFLNK) && ot_tiny_holds(target, "chain\n"));
    /* relative to the link's own directory, not the working one */
    CU_ASSERT_FATAL(mkdir(ot_test_path(sub, sizeof sub, "sub"), 0755) == 0);
    CU_ASSERT_FATAL(symlink("../target.csv", ot_test_path(rel, sizeof rel, "sub/rel.csv")) == 0);
    CU_ASSERT_EQUAL(ot_write_atomic(rel, "rel\n", 4), OT_OK);
    CU_ASSERT(is_type(rel, S_IFLNK) && ot_tiny_holds(target, "rel\n"));
    /* dangling: the file it names is made */
    CU_ASSERT_FATAL(symlink("sub/made.csv", ot_test_path(dangling, sizeof dangling,
                                                          "dangling.csv")) == 0);
    CU_ASSERT_EQUAL(ot_outfile_writable(dangling), OT_OK);
    CU_ASSERT_EQUAL(ot_write_atomic(dangling, "made\n", 5), OT_OK);
    CU_ASSERT(is_type(dangling, S_IFLNK) &&
              is_type(ot_test_path(made, sizeof made, "sub/made.csv"), S_IFREG) &&
              ot_tiny_holds(made, "made\n"));
    /* a loop */
    CU_ASSERT_FATAL(symlink("loop-b", ot_test_path(loop_a, sizeof loop_a, "loop-a")) == 0);
    CU_ASSERT_FATAL(symlink("loop-a", ot_test_path(loop_b, sizeof loop_b, "loop-b")) == 0);
    OT_EXPECT_ONE_LINE(ot_write_atomic(loop_a, "x", 1), OT_EIO,
                       "loop-a: cannot follow the symbolic link: Too many levels of symbolic "
                       "links");
    OT_EXPECT_ONE_LINE(ot_outfile_writable(loop_a), OT_EIO, "loop-a: cannot follow the symbolic");
    CU_ASSERT(is_type(loop_a, S_IFLNK) && is_type(loop_b, S_IFLNK));
    CU_ASSERT_EQUAL(count_tmp(), 0);
}

/* A character device and a FIFO are written in place and stay what they are (until 2026-12
 * a regular file was renamed over /dev/null); a full device's ENOSPC is one line; they may be
 * written (ot_outfile_writable) but are no place for a file that must be regular. */
static void test_devices(void)
{
    char null[256], full[256], fifo[256], link[256], file[256], want[512], buf[64];
    CU_ASSERT_FATAL(ot_test_chardev(ot_test_path(null, sizeof null, "null"), 0) == 0);
    CU_ASSERT_FATAL(ot_test_chardev(ot_test_path(full, sizeof full, "full"), 1) == 0);
    const mode_t dev = geteuid() == 0 ? S_IFCHR : S_IFLNK; /* the node, or the link to one */
    CU_ASSERT_EQUAL(ot_outfile_writable(null), OT_OK);
    CU_ASSERT_EQUAL(ot_write_atomic(null, "gone\n", 5), OT_OK);
    CU_ASSERT(is_type(null, dev));
    snprintf(want, sizeof want, "%s: cannot write the file (0 of 5 bytes written): No space "
             "left on device", full);
    OT_EXPECT_ONE_LINE(ot_write_atomic(full, "full\n", 5), OT_EIO, want);
    CU_ASSERT(is_type(full, dev));
    /* a link to a device: the device written, the link kept */
    CU_ASSERT_FATAL(symlink(null, ot_test_path(link, sizeof link, "to-null")) == 0);
    CU_ASSERT_EQUAL(ot_write_atomic(link, "gone\n", 5), OT_OK);
    CU_ASSERT(is_type(link, S_IFLNK) && is_type(null, dev));

    /* a FIFO: its reader gets the bytes (opened first, not blocking, so the write need not
     * wait for one) */
    CU_ASSERT_FATAL(mkfifo(ot_test_path(fifo, sizeof fifo, "fifo"), 0644) == 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    CU_ASSERT_FATAL(rfd >= 0);
    CU_ASSERT_EQUAL(ot_outfile_writable(fifo), OT_OK);
    CU_ASSERT_EQUAL(ot_write_atomic(fifo, "piped\n", 6), OT_OK);
    ssize_t got = read(rfd, buf, sizeof buf);
    CU_ASSERT(got == 6 && memcmp(buf, "piped\n", 6) == 0);
    close(rfd);
    CU_ASSERT(is_type(fifo, S_IFIFO));

    /* a file that must be regular (HDF5): a device or a FIFO refused, usage error */
    snprintf(want, sizeof want, "%s: --predictions is a character device, which HDF5 seeks "
             "in; expected a regular file", null);
    if (dev == S_IFCHR)
        OT_EXPECT_ONE_LINE(ot_outfile_regular(null, "--predictions", "which HDF5 seeks in"),
                           OT_ECONFIG, want);
    OT_EXPECT_ONE_LINE(ot_outfile_regular(link, "--predictions", "which HDF5 seeks in"),
                       OT_ECONFIG, "to-null: --predictions is a character device, which HDF5");
    OT_EXPECT_ONE_LINE(ot_outfile_regular(fifo, "--predictions", "which HDF5 seeks in"),
                       OT_ECONFIG, "fifo: --predictions is a FIFO, which HDF5 seeks in; "
                                   "expected a regular file");
    ot_test_path(file, sizeof file, "regular.h5");
    CU_ASSERT_EQUAL(ot_outfile_regular(file, "--predictions", "x"), OT_OK); /* not there */
    CU_ASSERT_FATAL(ot_write_atomic(file, "x", 1) == OT_OK);
    CU_ASSERT_EQUAL(ot_outfile_regular(file, "--predictions", "x"), OT_OK);
    CU_ASSERT_EQUAL(ot_outfile_regular(ot_test_scratch, "--predictions", "x"), OT_OK);
    CU_ASSERT_EQUAL(count_tmp(), 0);
}

/* Several outputs: all written; or, when one cannot be (a missing directory, a full device),
 * none changed and no temporary file left (until 2026-12 predict's HDF5 file was replaced
 * before its CSV failed). */
static void test_outputs(void)
{
    char a[256], b[256], missing[256], full[256];
    ot_test_path(a, sizeof a, "multi-a.csv");
    ot_test_path(b, sizeof b, "multi-b.csv");
    CU_ASSERT_FATAL(ot_write_atomic(a, "old a\n", 6) == OT_OK);
    ot_output_t outs[2] = {{a, "--predictions", 1, "new a\n", 6}, {b, "--csv", 0, "new b\n", 6}};
    CU_ASSERT_EQUAL(ot_write_outputs(outs, 2), OT_OK);
    CU_ASSERT(ot_tiny_holds(a, "new a\n") && ot_tiny_holds(b, "new b\n"));
    outs[0].data = "newer a\n";
    outs[0].size = 8;
    outs[1].path = ot_test_path(missing, sizeof missing, "missing/b.csv");
    OT_EXPECT_ONE_LINE(ot_write_outputs(outs, 2), OT_EIO, "missing/b.csv: cannot create the file");
    CU_ASSERT(ot_tiny_holds(a, "new a\n"));
    ot_test_path(full, sizeof full, "multi-full");
    CU_ASSERT_FATAL(ot_test_chardev(full, 1) == 0);
    outs[1].path = full;
    OT_EXPECT_ONE_LINE(ot_write_outputs(outs, 2), OT_EIO, "No space left on device");
    CU_ASSERT(ot_tiny_holds(a, "new a\n"));
    CU_ASSERT_EQUAL(count_tmp(), 0);
}

OT_TEST_SUITE(outfile, setup, ot_test_scratch_free,
              {"write, replace, nothing left behind", test_write_and_replace},
              {"cannot write: one line, nothing changed", test_cannot_write},
              {"writable: asked before writing, one line when not", test_writable},
              {"distinct: not one of the command's other files", test_distinct},
              {"-: standard output, whole or one line", test_stdout},
              {"a symbolic link: its target replaced, the link kept", test_links},
              {"a device or FIFO: written in place, never replaced", test_devices},
              {"several outputs: all, or none changed", test_outputs})
