/* mid_epoch.c - make_corpus.sh's helper: the checkpoint a run saves when SIGINT stops it inside
 * an epoch, made without the race of a real signal. The run of CONFIG trains one epoch, then
 * is stopped after two steps of the next (the trainer's interrupt flag, which the CLI's signal
 * handler sets), and writes its checkpoint to OUT.h5 with omptrain's own writer.
 *
 * usage: mid_epoch CONFIG OUT.h5   (from the repository root; exit 0 or 1) */
#include <signal.h>
#include <stdio.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_config.h"
#include "ot_train.h"

static volatile sig_atomic_t stop;

static void progress(const ot_trainer_t *t, size_t done, size_t total, void *arg)
{
    (void)t, (void)total, (void)arg;
    if (done == 2)
        stop = 1;
}

int main(int argc, char **argv)
{
    ot_config_t c;
    ot_trainer_t t = {0};
    ot_epoch_stats_t st;
    if (argc != 3) {
        fprintf(stderr, "usage: mid_epoch CONFIG OUT.h5\n");
        return 1;
    }
    ot_config_defaults(&c);
    if (ot_config_load(&c, argv[1]) || ot_config_check(&c) || ot_trainer_init(&t, &c, 1))
        return 1;
    t.interrupt = &stop;
    int rc = ot_trainer_epoch(&t, &st, NULL, NULL);
    if (!rc && ot_trainer_epoch(&t, &st, progress, NULL) != OT_EINTR)
        rc = OT_EINVAL;
    if (!rc && t.batch_in_epoch != 2)
        rc = OT_EINVAL;
    if (!rc)
        rc = ot_ckpt_write(&t, argv[2]);
    ot_trainer_free(&t);
    if (rc)
        fprintf(stderr, "mid_epoch: no checkpoint inside an epoch (status %d)\n", rc);
    return rc ? 1 : 0;
}
