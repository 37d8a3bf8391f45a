/* test_outfile.c - atomic output files (src/outfile.c): the bytes arrive whole, an existing
 * file is replaced, and a write that cannot happen says so in one line and leaves neither a
 * temporary file nor a change behind; whether a file could be created, asked first; "-" as
 * standard output. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_outfile.h"
#include "ot_test.h"

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
    char path[256], file[256];
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
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(in, "--csv", files, what, 2), OT_EIO,
                       "in.idx: --csv names the input file (INPUT), which it would replace; "
                       "expected another file name");
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(spelt, "--csv", files, what, 2), OT_EIO,
                       "names the input file (INPUT)");
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(link, "--csv", files, what, 2), OT_EIO,
                       "names the input file (INPUT)");
    CU_ASSERT_EQUAL(ot_outfile_distinct(other, "--csv", files, what, 2), OT_OK);
    ot_test_path(a, sizeof a, "new.csv");
    CU_ASSERT_EQUAL(ot_outfile_distinct(a, "--csv", files, what, 2), OT_OK);
    /* two outputs not written yet: one name, however spelt, is one file */
    snprintf(b, sizeof b, "%s/../%s/new.csv", ot_test_scratch, strrchr(ot_test_scratch, '/') + 1);
    const char *const outs[] = {b};
    const char *const out_what[] = {"the predictions file (--predictions)"};
    OT_EXPECT_ONE_LINE(ot_outfile_distinct(a, "--csv", outs, out_what, 1), OT_EIO,
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

OT_TEST_SUITE(outfile, setup, ot_test_scratch_free,
              {"write, replace, nothing left behind", test_write_and_replace},
              {"cannot write: one line, nothing changed", test_cannot_write},
              {"writable: asked before writing, one line when not", test_writable},
              {"distinct: not one of the command's other files", test_distinct},
              {"-: standard output, whole or one line", test_stdout})
