/* test_outdir.c - a run's output directory (src/outdir.c): its default name, making it with
 * its parents, refusing one that cannot take files, listing a run's files, setting an
 * earlier run aside, and where a resume may go. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_config.h"
#include "ot_outdir.h"
#include "ot_test.h"

static int setup(void)
{
    return ot_test_scratch_init("outdir");
}

static void test_output_dir(void)
{
    char dir[256], p[300];
    ot_config_t c;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "configs/mnist.ini");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "runs/mnist");
    snprintf(c.path, sizeof c.path, "my.conf");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "runs/my.conf");
    snprintf(c.out_dir, sizeof c.out_dir, "/tmp/x");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "/tmp/x");

    /* parents are made */
    ot_test_path(dir, sizeof dir, "out/a/b/c");
    CU_ASSERT_EQUAL(ot_output_dir_prepare(dir), 0);
    struct stat st;
    CU_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(ot_output_dir_prepare(dir), 0); /* and an existing one is fine */
    /* under a regular file: even root cannot */
    ot_test_path(p, sizeof p, "regular");
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    ot_test_path(dir, sizeof dir, "regular/sub");
    OT_EXPECT_ONE_LINE(ot_output_dir_prepare(dir), OT_EIO, "Not a directory");
    OT_EXPECT_ONE_LINE(ot_output_dir_prepare(p), OT_EIO, "Not a directory");
}

/* A file of n bytes at dir/name. */
static void touch(const char *dir, const char *name, size_t n)
{
    char p[400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (size_t i = 0; i < n; i++)
        fputc('x', f);
    fclose(f);
}

/* Bytes of dir/name, or -1 when it is not there. */
static long size_of(const char *dir, const char *name)
{
    char p[400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* A new run into a directory that holds a run: the run's files (not others) go to previous/,
 * replacing the run before's there (until 2026-12 a new run replaced the last one's files);
 * a directory with no checkpoint (a history alone, nothing) is left as it is. */
static void test_set_aside(void)
{
    char dir[256], prev[300];
    size_t moved = 99;
    ot_test_path(dir, sizeof dir, "run");
    snprintf(prev, sizeof prev, "%s/previous", dir);
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == OT_OK);
    CU_ASSERT_EQUAL(ot_output_dir_set_aside(dir, &moved), OT_OK); /* empty */
    CU_ASSERT_EQUAL(moved, 0);
    touch(dir, "history.h5", 1);
    CU_ASSERT_EQUAL(ot_output_dir_set_aside(dir, &moved), OT_OK); /* a history alone */
    CU_ASSERT_EQUAL(moved, 0);
    CU_ASSERT_EQUAL(size_of(dir, "history.h5"), 1);
    CU_ASSERT_EQUAL(size_of(dir, "previous"), -1);

    /* run 1: two checkpoints, latest, history, plot; and a file of the user's */
    touch(dir, "checkpoint-e0001.h5", 1);
    touch(dir, "checkpoint-e0002.h5", 1);
    touch(dir, "latest.h5", 1);
    touch(dir, "history.png", 1);
    touch(dir, "notes.txt", 1);
    CU_ASSERT_EQUAL(ot_output_dir_set_aside(dir, &moved), OT_OK);
    CU_ASSERT_EQUAL(moved, 5);
    CU_ASSERT_EQUAL(size_of(prev, "checkpoint-e0002.h5"), 1);
    CU_ASSERT_EQUAL(size_of(prev, "history.png"), 1);
    CU_ASSERT_EQUAL(size_of(dir, "latest.h5"), -1);
    CU_ASSERT_EQUAL(size_of(dir, "notes.txt"), 1); /* not a run file: stays */

    /* run 2 (files of 2 bytes) set aside in turn: run 1's go, a user's file in previous/ stays */
    touch(prev, "mine.txt", 1);
    touch(dir, "checkpoint-e0001.h5", 2);
    touch(dir, "latest.h5", 2);
    touch(dir, "history.h5", 2);
    CU_ASSERT_EQUAL(ot_output_dir_set_aside(dir, &moved), OT_OK);
    CU_ASSERT_EQUAL(moved, 3);
    CU_ASSERT_EQUAL(size_of(prev, "checkpoint-e0001.h5"), 2);
    CU_ASSERT_EQUAL(size_of(prev, "checkpoint-e0002.h5"), -1);
    CU_ASSERT_EQUAL(size_of(prev, "history.png"), -1);
    CU_ASSERT_EQUAL(size_of(prev, "mine.txt"), 1);

    /* previous is a file: one line, nothing moved */
    char other[256];
    ot_test_path(other, sizeof other, "run2");
    CU_ASSERT_FATAL(ot_output_dir_prepare(other) == OT_OK);
    touch(other, "previous", 1);
    touch(other, "latest.h5", 3);
    OT_EXPECT_ONE_LINE(ot_output_dir_set_aside(other, &moved), OT_EIO,
                       "run2/previous: is not a directory, expected none or the directory an "
                       "earlier run is set aside in; move it away, or give another --output");
    CU_ASSERT_EQUAL(size_of(other, "latest.h5"), 3);
}

/* A run directory's files by kind, in name order; other names left out; a directory that
 * cannot be read is one line. */
static void test_run_files(void)
{
    char dir[256], **names;
    size_t n = 99;
    CU_ASSERT_EQUAL(ot_run_file_kind("checkpoint-e0012.h5"), OT_RUN_CHECKPOINT);
    CU_ASSERT_EQUAL(ot_run_file_kind("latest.h5"), OT_RUN_LATEST);
    CU_ASSERT_EQUAL(ot_run_file_kind("history.h5"), OT_RUN_HISTORY);
    CU_ASSERT_EQUAL(ot_run_file_kind("history.png"), OT_RUN_PLOT);
    CU_ASSERT_EQUAL(ot_run_file_kind("checkpoint-e0012.h5.tmp"), 0);
    CU_ASSERT_EQUAL(ot_run_file_kind("previous"), 0);
    ot_test_path(dir, sizeof dir, "list");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == OT_OK);
    CU_ASSERT_EQUAL(ot_run_files(dir, OT_RUN_ANY, &names, &n), OT_OK);
    CU_ASSERT_EQUAL(n, 0);
    ot_run_files_free(names, n);
    const char *made[] = {"latest.h5", "checkpoint-e0010.h5", "notes.txt", "history.png",
                          "checkpoint-e0002.h5", "history.h5", ".ckpt-1-e0003.tmp"};
    for (size_t i = 0; i < sizeof made / sizeof *made; i++)
        touch(dir, made[i], 1);
    CU_ASSERT_FATAL(ot_run_files(dir, OT_RUN_ANY, &names, &n) == OT_OK);
    const char *all[] = {"checkpoint-e0002.h5", "checkpoint-e0010.h5", "history.h5",
                         "history.png", "latest.h5"};
    CU_ASSERT_EQUAL_FATAL(n, 5);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_STRING_EQUAL(names[i], all[i]);
    ot_run_files_free(names, n);
    CU_ASSERT_FATAL(ot_run_files(dir, OT_RUN_CHECKPOINT | OT_RUN_LATEST, &names, &n) == OT_OK);
    CU_ASSERT_EQUAL_FATAL(n, 3);
    CU_ASSERT_STRING_EQUAL(names[2], "latest.h5");
    ot_run_files_free(names, n);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    OT_EXPECT_ONE_LINE(ot_run_files(missing, OT_RUN_ANY, &names, &n), OT_EIO,
                       "none: cannot read the run directory: No such file or directory");
    CU_ASSERT_PTR_NULL(names);
    CU_ASSERT_EQUAL(n, 0);
}

/* A resume goes on in its checkpoint's own directory (however the path is spelled), or in
 * one that holds no run; a directory with another run's files is refused in one line. */
static void test_check_resume(void)
{
    char a[256], b[256], ck[300], other[300], cwd[OT_PATH_MAX];
    ot_test_path(a, sizeof a, "resume-a");
    ot_test_path(b, sizeof b, "resume-b");
    CU_ASSERT_FATAL(ot_output_dir_prepare(a) == OT_OK && ot_output_dir_prepare(b) == OT_OK);
    touch(a, "checkpoint-e0002.h5", 1);
    touch(a, "latest.h5", 1);
    snprintf(ck, sizeof ck, "%s/latest.h5", a);
    CU_ASSERT_EQUAL(ot_output_dir_check_resume(a, ck), OT_OK);
    CU_ASSERT_EQUAL(ot_output_dir_check_resume(b, ck), OT_OK); /* b holds no run */
    snprintf(other, sizeof other, "%s/../resume-a/latest.h5", b);
    CU_ASSERT_EQUAL(ot_output_dir_check_resume(a, other), OT_OK);
    touch(b, "notes.txt", 1);
    touch(b, "history.png", 1);
    CU_ASSERT_EQUAL(ot_output_dir_check_resume(b, ck), OT_OK); /* no run file */
    touch(b, "history.h5", 1);
    touch(b, "checkpoint-e0006.h5", 1);
    char want[1024];
    snprintf(want, sizeof want,
             "%s holds another run than the one in %s (checkpoint-e0006.h5, ..., 2 files): "
             "resuming into it would replace that run's files; give --output %s (the "
             "checkpoint's own directory) or a directory without a run", b, ck, a);
    OT_EXPECT_ONE_LINE(ot_output_dir_check_resume(b, ck), OT_ECONFIG, want);
    CU_ASSERT_EQUAL(size_of(b, "checkpoint-e0006.h5"), 1);
    /* a name without a directory: the current one */
    CU_ASSERT_FATAL(getcwd(cwd, sizeof cwd) != NULL);
    CU_ASSERT_FATAL(chdir(a) == 0);
    CU_ASSERT_EQUAL(ot_output_dir_check_resume(".", "latest.h5"), OT_OK);
    OT_EXPECT_ONE_LINE(ot_output_dir_check_resume(b, "latest.h5"), OT_ECONFIG,
                       "give --output . (the checkpoint's own directory)");
    CU_ASSERT_FATAL(chdir(cwd) == 0);
}

/* A run that fails to start removes what ot_output_dir_create made, and only that: the lock
 * file and the levels it created, each while empty. */
static void test_unmake(void)
{
    char base[256], dir[320], p[400];
    struct stat st;
    int made = -1, fd;
    ot_test_path(base, sizeof base, "mk");
    CU_ASSERT_FATAL(ot_output_dir_prepare(base) == OT_OK);
    snprintf(dir, sizeof dir, "%s/a/b/", base);
    CU_ASSERT_FATAL(ot_output_dir_create(dir, &made) == OT_OK);
    CU_ASSERT_EQUAL(made, 2);
    CU_ASSERT_FATAL(ot_output_dir_lock(dir, &fd) == OT_OK);
    close(fd);
    ot_output_dir_unmake(dir, made);
    snprintf(p, sizeof p, "%s/a", base);
    CU_ASSERT(stat(p, &st) != 0 && errno == ENOENT); /* a and a/b gone */
    CU_ASSERT(stat(base, &st) == 0 && S_ISDIR(st.st_mode)); /* it was there before */
    /* there already: made 0, nothing removed */
    CU_ASSERT_FATAL(ot_output_dir_create(base, &made) == OT_OK);
    CU_ASSERT_EQUAL(made, 0);
    ot_output_dir_unmake(base, made);
    CU_ASSERT(stat(base, &st) == 0);
    /* a level that holds a file stays, and so do the levels above it */
    snprintf(dir, sizeof dir, "%s/c/d", base);
    CU_ASSERT_FATAL(ot_output_dir_create(dir, &made) == OT_OK && made == 2);
    touch(dir, "keep.txt", 3);
    ot_output_dir_unmake(dir, made);
    snprintf(p, sizeof p, "%s/keep.txt", dir);
    CU_ASSERT(stat(p, &st) == 0 && st.st_size == 3);
}

OT_TEST_SUITE(outdir, setup, ot_test_scratch_free,
              {"a run directory's files by kind, in name order", test_run_files},
              {"output directory", test_output_dir},
              {"what a run that fails to start made is removed", test_unmake},
              {"a new run sets the last one aside in previous/", test_set_aside},
              {"a resume goes on in its own directory or an empty one", test_check_resume})
