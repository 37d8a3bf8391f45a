/* test_ckpt_save.c - a run's checkpoints on disk (src/ckpt_save.c): the keep rule and
 * latest.h5, and a failed save that leaves the previous checkpoint loadable (rename blocked;
 * file size limit hit mid-write). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_optim.h"
#include "ot_outdir.h"
#include "ot_test.h"
#include "ckpt_test.h"
#include "ot_train.h"

static int setup(void)
{
    ot_gemm_init();
    return ot_test_scratch_init("ckpt");
}

/* keep = K leaves the K + 1 newest; latest.h5 is a symlink to the newest; checkpoints of
 * later epochs (an abandoned line of the run) go away. */
static void test_keep(void)
{
    ot_trainer_t t;
    char dir[256], p[300], link[64];
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 3, 20, 600) == 0);
    ot_test_path(dir, sizeof dir, "keep");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    for (int e = 1; e <= 4; e++) {
        ot_ckpt_saved_t sv;
        t.epoch = e;
        CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 1, &sv) == 0);
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_STRING_EQUAL(sv.path, p);
        CU_ASSERT(sv.bytes > t.net.n_params * sizeof(float));
    }
    for (int e = 1; e <= 4; e++) {
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_EQUAL(ot_ck_file_exists(p), e >= 3);
    }
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ssize_t n = readlink(p, link, sizeof link - 1);
    CU_ASSERT_FATAL(n > 0);
    link[n] = 0;
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0004.h5");

    /* keep = 0, and a resumed line from epoch 2 drops the later epochs 3 and 4 */
    t.epoch = 2;
    CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 0, NULL) == 0);
    for (int e = 1; e <= 4; e++) {
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_EQUAL(ot_ck_file_exists(p), e == 2);
    }
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(dir), 0);
    ot_trainer_free(&t);
}

/* A save that fails - its rename blocked, or the disk "full" mid-write - reports one line
 * (naming the checkpoint it was to write), leaves no temporary file, and the previous
 * checkpoint and latest.h5 stay as they were. */
static void test_failed_save(void)
{
    ot_trainer_t t, u;
    char dir[256], p[300], link[64];
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 5, 50, 600) == 0);
    CU_ASSERT_FATAL(ot_ck_make_trainer(&u, 6, 50, 600) == 0);
    ot_test_path(dir, sizeof dir, "failed");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&t, 1) == 0);
    CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 3, NULL) == 0);
    float *good = malloc(t.net.n_params * sizeof(float));
    CU_ASSERT_FATAL(good != NULL);
    memcpy(good, t.net.params, t.net.n_params * sizeof(float));
    CU_ASSERT_FATAL(ot_ck_run_epochs(&t, 1) == 0); /* epoch 2: parameters move on */

    /* 1: the rename onto checkpoint-e0002.h5 fails, since that is a non-empty directory */
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5/blocker", dir);
    CU_ASSERT_FATAL(ot_output_dir_prepare(p) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_save(&t, dir, 3, NULL), OT_EIO, "cannot rename");
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(dir), 0);
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    ot_test_rm_rf(p);

    /* 2: the file size limit cuts the write short (a full disk, without filling one) */
    struct rlimit old, lim;
    CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 16384; /* the parameters alone take 160 KB */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    char txt[2048];
    ot_test_capture_begin();
    int rc = ot_ckpt_save(&t, dir, 3, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    int lines = ot_test_capture_lines(txt, sizeof txt);
    CU_ASSERT_EQUAL(rc, OT_EIO);
    CU_ASSERT_EQUAL(lines, 1);
    /* named as the checkpoint it was to become, not by its temporary name */
    char want[400];
    snprintf(want, sizeof want, "%s/checkpoint-e0002.h5: cannot write the checkpoint (16384 of ",
             dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, want));
    CU_ASSERT_PTR_NULL(strstr(txt, ".ckpt-"));
    if (lines != 1)
        fprintf(stderr, "\n  size limit: %d lines: %s", lines, txt);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(dir), 0);

    /* the previous checkpoint is intact, and latest.h5 still names it */
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    CU_ASSERT(!ot_ck_file_exists(p));
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ssize_t n = readlink(p, link, sizeof link - 1);
    CU_ASSERT_FATAL(n > 0);
    link[n] = 0;
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0001.h5");
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &u), 0);
    CU_ASSERT_EQUAL(u.epoch, 1);
    CU_ASSERT(memcmp(u.net.params, good, t.net.n_params * sizeof(float)) == 0);

    /* and the next save works again */
    CU_ASSERT_EQUAL(ot_ckpt_save(&t, dir, 3, NULL), 0);
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &u), 0);
    CU_ASSERT(ot_ck_params_equal(&t.net, &u.net));
    free(good);
    ot_trainer_free(&t);
    ot_trainer_free(&u);
}

/* dir/latest.h5's target, into link (n bytes); "" when there is none. */
static void latest_of(const char *dir, char *link, size_t n)
{
    char p[300];
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ssize_t len = readlink(p, link, n - 1);
    link[len > 0 ? len : 0] = '\0';
}

/* A resume from an earlier checkpoint removes the later ones at its start, and points
 * latest.h5 at the one it resumed (until 2026-12 they stayed until the run's first save,
 * while the history was cut at once: a run killed before that save left latest.h5 at epoch 4
 * over a history of epochs 1-2, and the next --resume DIR went on from epoch 4, leaving a gap
 * in the curves); a mid-epoch checkpoint bears the number of the epoch under way; nothing
 * later: nothing changes; a resumed file of another name: latest.h5 goes, the first save
 * makes it again. */
static void test_drop_later(void)
{
    ot_trainer_t t;
    char dir[256], p[300], link[64];
    size_t removed = 9;
    long last = 0;
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 4, 20, 600) == 0);
    ot_test_path(dir, sizeof dir, "later");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    for (int e = 1; e <= 4; e++) {
        t.epoch = e;
        CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 10, NULL) == 0);
    }
    snprintf(p, sizeof p, "%s/checkpoint-e0004.h5", dir);
    CU_ASSERT_EQUAL(ot_ckpt_drop_later(dir, 4, p, &removed, &last), OT_OK);
    CU_ASSERT(removed == 0 && last == 4);
    latest_of(dir, link, sizeof link);
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0004.h5");

    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    CU_ASSERT_EQUAL(ot_ckpt_drop_later(dir, 2, p, &removed, &last), OT_OK);
    CU_ASSERT(removed == 2 && last == 4);
    for (int e = 1; e <= 4; e++) {
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_EQUAL(ot_ck_file_exists(p), e <= 2);
    }
    latest_of(dir, link, sizeof link);
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0002.h5");
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(dir), 0);

    /* resumed through latest.h5 from a copy of another name: latest.h5 (at the removed
     * epoch 2) goes */
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    char q[300];
    snprintf(q, sizeof q, "%s/mine.h5", dir);
    CU_ASSERT_FATAL(ot_ck_copy_file(p, q, -1) == 0);
    CU_ASSERT_EQUAL(ot_ckpt_drop_later(dir, 1, q, &removed, &last), OT_OK);
    CU_ASSERT(removed == 1 && last == 2);
    latest_of(dir, link, sizeof link);
    CU_ASSERT_STRING_EQUAL(link, "");
    snprintf(p, sizeof p, "%s/checkpoint-e0001.h5", dir);
    CU_ASSERT(ot_ck_file_exists(p) && ot_ck_file_exists(q));
    ot_trainer_free(&t);
}

OT_TEST_SUITE(ckpt_save, setup, ot_test_scratch_free,
              {"keep rule and latest.h5", test_keep},
              {"a resume from an earlier checkpoint: the later ones go first", test_drop_later},
              {"failed save keeps the previous checkpoint", test_failed_save})
