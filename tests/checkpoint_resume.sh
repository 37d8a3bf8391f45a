#!/usr/bin/env bash
# checkpoint_resume.sh - a run of 3 epochs interrupted after 1 and resumed ends with the same
# parameters, bit for bit, as an uninterrupted one (h5diff of /model), also at another thread
# count; its history holds exactly 3 epochs and 60 steps, equal to the uninterrupted curve;
# the keep rule and latest.h5; eval of the result; resuming a finished run writes nothing; a
# new run into a run's directory sets the earlier run aside in previous/, and one that fails
# to start does not; a checkpoint written inside an epoch resumes only at its batch size; a
# resume into another run's directory is refused.
# Run from the repository root (make check). OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
cfg=tests/configs/ckpt-small.ini
. tests/lib.sh # the shared helpers: $tmp, fail, run
# dataspace length of a 1-D dataset, from h5dump's header
rows() { h5dump -H -d "$2" "$1" 2>/dev/null | sed -n 's/.*SIMPLE { ( \([0-9]*\) ).*/\1/p'; }

run full -t 2 --epochs 3 -o "$tmp/full" "$cfg" || exit 1
run part -t 2 --epochs 1 -o "$tmp/part" "$cfg" || exit 1
run resumed -t 2 --resume "$tmp/part/latest.h5" --epochs 3 -o "$tmp/part" "$cfg" || exit 1
grep -q "^resumed from $tmp/part/latest.h5: epoch 1, step 20" "$tmp/resumed.out" ||
    fail "resume did not report its starting point: $(head -3 "$tmp/resumed.out")"
[ "$(grep -c '^epoch ' "$tmp/resumed.out")" -eq 2 ] ||
    fail "the resumed run trained $(grep -c '^epoch ' "$tmp/resumed.out") epochs, expected 2"

# the parameters: identical; and h5diff does see a difference where there is one
if ! out=$(h5diff "$tmp/full/latest.h5" "$tmp/part/latest.h5" /model /model 2>&1); then
    fail "resumed and uninterrupted /model differ: $out"
fi
if h5diff -q "$tmp/full/latest.h5" "$tmp/part/checkpoint-e0002.h5" /model /model >/dev/null 2>&1; then
    fail "h5diff finds no difference between epochs 3 and 2: the comparison proves nothing"
fi

# the curve continues: 3 epochs, 3 x 20 steps, numbered 1..60, equal to the uninterrupted one
[ "$(rows "$tmp/part/history.h5" /epochs/epoch)" = 3 ] ||
    fail "history has $(rows "$tmp/part/history.h5" /epochs/epoch) epochs, expected 3"
[ "$(rows "$tmp/part/history.h5" /steps/step)" = 60 ] ||
    fail "history has $(rows "$tmp/part/history.h5" /steps/step) steps, expected 60"
for d in /steps/step /steps/loss /epochs/epoch /epochs/train_loss /epochs/test_acc; do
    h5diff -q "$tmp/full/history.h5" "$tmp/part/history.h5" "$d" "$d" >/dev/null 2>&1 ||
        fail "history $d of the resumed run differs from the uninterrupted one"
done

# threads do not matter with a fixed shard count: 1 epoch on 3 threads, the rest on 1
run part3 -t 3 --epochs 1 -o "$tmp/t3" "$cfg" || exit 1
run resumed1 -t 1 --resume "$tmp/t3/latest.h5" --epochs 3 -o "$tmp/t3" "$cfg" || exit 1
h5diff -q "$tmp/full/latest.h5" "$tmp/t3/latest.h5" /model /model >/dev/null 2>&1 ||
    fail "3 threads then 1 thread differs from 2 threads"
[ "$(h5dump -a /threads "$tmp/t3/latest.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')" = 1 ] ||
    fail "the checkpoint does not record the 1 thread that wrote it"

# the same with adam (its m and v buffers), a step schedule with warm-up, weight decay,
# clipping and early stopping's validation split: all of that state has to come back
adam=tests/configs/ckpt-adam.ini
run adam_full -t 2 --epochs 3 -o "$tmp/adam_full" "$adam" || exit 1
run adam_part -t 2 --epochs 1 -o "$tmp/adam_part" "$adam" || exit 1
run adam_resumed -t 1 --resume "$tmp/adam_part/latest.h5" --epochs 3 -o "$tmp/adam_part" "$adam" || exit 1
for g in /model /optimizer/m /optimizer/v /state/best_params; do
    out=$(h5diff "$tmp/adam_full/latest.h5" "$tmp/adam_part/latest.h5" "$g" "$g" 2>&1) ||
        fail "adam: resumed and uninterrupted $g differ: $out"
done
[ "$(h5dump -A 0 -d /optimizer/t "$tmp/adam_part/latest.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')" = 54 ] ||
    fail "adam: /optimizer/t is not 3 epochs x 18 steps"
h5diff -q "$tmp/adam_full/history.h5" "$tmp/adam_part/history.h5" /epochs/val_loss /epochs/val_loss \
    >/dev/null 2>&1 || fail "adam: the resumed validation curve differs"
run adam_eval eval --checkpoint "$tmp/adam_part/latest.h5" "$adam"
"$bin" --resume "$tmp/adam_part/checkpoint-e0003.h5" --epochs 4 --set training.optimizer=sgd \
    -o "$tmp/adam_part" "$adam" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q "trained with the adam optimizer but the config's training.optimizer is sgd" "$tmp/err" ||
    fail "adam checkpoint into an sgd config: $(cat "$tmp/err")"

# early stopping (patience 1 at a high learning rate stops at epoch 4 for this seed): the last
# checkpoint holds the best epoch's parameters, and resuming it says the run is over
es=(--epochs 15 --set training.patience=1 --set training.learning_rate=0.03 --set training.schedule=constant)
run es "${es[@]}" -o "$tmp/es" "$adam" || exit 1
grep -q '^early stopping: no better validation loss for 1 epochs; the parameters of epoch [0-9]* ' "$tmp/es.out" ||
    fail "early stopping did not stop the run: $(cat "$tmp/es.out")"
best=$(h5dump -A 0 -d /state/best_epoch "$tmp/es/latest.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')
[ "$(h5dump -A 0 -d /state/stopped "$tmp/es/latest.h5" | sed -n 's/.*(0): \([0-9]*\).*/\1/p')" = 1 ] ||
    fail "the early-stopped checkpoint does not say stopped"
run es_eval eval --checkpoint "$tmp/es/latest.h5" "$adam" || exit 1
want=$(grep "^epoch  *$best/" "$tmp/es.out" | sed 's/.*test loss [0-9.]* acc *\([0-9.]*\)%.*/\1/')
got=$(sed -n 's/^test loss [0-9.]*  acc \([0-9.]*\)%.*/\1/p' "$tmp/es_eval.out")
[ -n "$want" ] && [ "$want" = "$got" ] ||
    fail "eval of the early-stopped checkpoint: $got% test accuracy, epoch $best had $want%"
"$bin" --resume "$tmp/es/latest.h5" "${es[@]}" -o "$tmp/es" "$adam" >"$tmp/es2.out" 2>&1 &&
    grep -q "the run stopped early at epoch [0-9]* (early stopping restored the parameters of epoch $best)" "$tmp/es2.out" ||
    fail "resuming an early-stopped run: $(cat "$tmp/es2.out")"

# keep = 1: the newest two checkpoints, latest.h5 a symlink to the newest
(cd "$tmp/part" && ls checkpoint-e*.h5 | tr '\n' ' ') >"$tmp/ls"
[ "$(cat "$tmp/ls")" = "checkpoint-e0002.h5 checkpoint-e0003.h5 " ] ||
    fail "keep = 1 left: $(cat "$tmp/ls")"
[ "$(readlink "$tmp/part/latest.h5")" = checkpoint-e0003.h5 ] ||
    fail "latest.h5 -> $(readlink "$tmp/part/latest.h5"), expected checkpoint-e0003.h5"
ls -a "$tmp/part" | grep -q '\.tmp$' && fail "temporary files left: $(ls -a "$tmp/part")"

# eval: loss, accuracy and a 10x10 confusion matrix, the same for both runs
run eval_full eval --checkpoint "$tmp/full/latest.h5" "$cfg" || exit 1
run eval_part eval --checkpoint "$tmp/part/latest.h5" "$cfg" || exit 1
n=$(grep -cE '^ +[0-9]+( +[0-9]+){10} +[0-9.]+%$' "$tmp/eval_part.out")
[ "$n" -eq 10 ] || fail "eval printed $n confusion matrix rows, expected 10: $(cat "$tmp/eval_part.out")"
grep -q '^test loss [0-9.]*  acc [0-9.]*%' "$tmp/eval_part.out" || fail "eval printed no loss/accuracy"
[ "$(grep '^test loss' "$tmp/eval_full.out" | cut -d'(' -f1)" = \
  "$(grep '^test loss' "$tmp/eval_part.out" | cut -d'(' -f1)" ] || fail "eval results differ"
# the matrix holds every test sample: 1000
sum=$(grep -E '^ +[0-9]+( +[0-9]+){10} ' "$tmp/eval_part.out" |
      awk '{for (i = 2; i <= 11; i++) s += $i} END {print s}')
[ "$sum" = 1000 ] || fail "the confusion matrix counts $sum samples, expected 1000"

# the plot of the resumed run's curve
if out=$(scripts/plot_history.py "$tmp/part" 2>&1); then
    [ "$(head -c 8 "$tmp/part/history.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
        fail "scripts/plot_history.py wrote no PNG: $out"
else
    fail "scripts/plot_history.py failed: $out"
fi
rm -f "$tmp/part/history.png"
# given the history file itself, the same PNG beside it; a checkpoint or a missing directory:
# one line, exit 1 (until 2026-12 a file was taken for a directory, and h5py's text printed)
cp "$tmp/part/history.h5" "$tmp/h-copy.h5"
out=$(scripts/plot_history.py "$tmp/h-copy.h5" 2>&1) && [ -s "$tmp/h-copy.png" ] ||
    fail "scripts/plot_history.py on a history file: $out"
out=$(scripts/plot_history.py "$tmp/part/latest.h5" 2>&1)
[ $? = 1 ] && [ "$out" = "plot_history.py: $tmp/part/latest.h5: an omptrain checkpoint, not a history: give the run's directory or its history.h5" ] ||
    fail "scripts/plot_history.py on a checkpoint: $out"
out=$(scripts/plot_history.py "$tmp/none" 2>&1)
[ $? = 1 ] && [ "$out" = "plot_history.py: $tmp/none/history.h5: cannot open it: No such file or directory" ] ||
    fail "scripts/plot_history.py on a missing directory: $out"

# a finished run: says so, exits 0, writes nothing
touch "$tmp/marker"
sleep 0.01
before=$(ls -lA --time-style=full-iso "$tmp/part")
"$bin" --resume "$tmp/part/latest.h5" --epochs 3 -o "$tmp/part" "$cfg" >"$tmp/done.out" 2>"$tmp/done.err" ||
    fail "resuming a finished run exited $?: $(cat "$tmp/done.err")"
grep -q "the run already finished its 3 epochs; raise training.epochs (e.g. --epochs [0-9]*) to train further" \
    "$tmp/done.out" || fail "resuming a finished run said: $(cat "$tmp/done.out" "$tmp/done.err")"
[ "$(ls -lA --time-style=full-iso "$tmp/part")" = "$before" ] && [ -z "$(find "$tmp/part" -newer "$tmp/marker")" ] ||
    fail "resuming a finished run changed $tmp/part"

# a new run into a directory that holds a run: the earlier run's files go to previous/ (a note
# says where), intact, and resuming from there continues it (until 2026-12 the new run
# replaced them); the run after that replaces previous/ in turn
cp "$tmp/full/latest.h5" "$tmp/full-latest.h5"
run again -t 2 --epochs 1 -o "$tmp/full" "$cfg" &&
    grep -q "^note: $tmp/full held an earlier run: its [0-9]* files are now in $tmp/full/previous/" "$tmp/again.out" ||
    fail "a new run into a run's directory: no note: $(head -3 "$tmp/again.out")"
cmp -s "$tmp/full-latest.h5" "$tmp/full/previous/latest.h5" && [ -e "$tmp/full/previous/history.h5" ] ||
    fail "the earlier run's files are not in previous/: $(ls "$tmp/full/previous" 2>&1)"
run prev -t 2 --resume "$tmp/full/previous" --epochs 4 -o "$tmp/full/previous" "$cfg" &&
    [ "$(grep -c '^epoch ' "$tmp/prev.out")" -eq 1 ] || fail "resuming the set-aside run: $(cat "$tmp/prev.out")"
grep -q "^note: .* held an earlier run" "$tmp/prev.out" && fail "a resume set its own run aside"

# a new run that fails to start (a bad data file: exit 1; too little memory: exit 2) leaves the
# directory's run where it is (until 2026-12 it had been moved to previous/ already, and the
# directory looked empty to a --resume)
before=$(ls "$tmp/full"; md5sum "$tmp/full"/*.h5)
"$bin" --set data.train_images=$cfg --epochs 1 -o "$tmp/full" "$cfg" >/dev/null 2>"$tmp/bad.err"
[ $? = 1 ] && grep -q "wrong magic" "$tmp/bad.err" || fail "a bad data file: $(cat "$tmp/bad.err")"
OMPTRAIN_MEMORY_LIMIT=1000000 "$bin" --epochs 1 -o "$tmp/full" "$cfg" >/dev/null 2>"$tmp/mem.err"
[ $? = 2 ] && grep -q "the run needs about" "$tmp/mem.err" || fail "too little memory: $(cat "$tmp/mem.err")"
[ "$(ls "$tmp/full"; md5sum "$tmp/full"/*.h5)" = "$before" ] ||
    fail "a run that failed to start moved the directory's run: $(ls -R "$tmp/full")"

# a resume into a directory that holds another run: refused, that run's files untouched (until
# 2026-12 the resumed run overwrote its checkpoints, pruned the later ones and cut its history)
before=$(ls -l --time-style=full-iso "$tmp/part"; md5sum "$tmp/part"/*) # not the lock
"$bin" --resume "$tmp/full/previous/latest.h5" --epochs 5 -o "$tmp/part" "$cfg" \
    >"$tmp/other.out" 2>"$tmp/other.err"
rc=$?
[ "$rc" = 2 ] && grep -q "^omptrain: $tmp/part holds another run than the one in $tmp/full/previous/latest.h5 (checkpoint-e.*): resuming into it would replace that run's files; give --output $tmp/full/previous" "$tmp/other.err" ||
    fail "a resume into another run's directory: exit $rc: $(cat "$tmp/other.err")"
[ "$(ls -l --time-style=full-iso "$tmp/part"; md5sum "$tmp/part"/*)" = "$before" ] ||
    fail "the refused resume changed $tmp/part"

# a resume from an earlier checkpoint of the directory's own run: the later checkpoints go at
# its start, with the history past it, and a note says so; the run makes them again
run branch -t 2 --epochs 3 -o "$tmp/branch" "$cfg" &&
    run branch2 -t 2 --resume "$tmp/branch/checkpoint-e0002.h5" --epochs 3 -o "$tmp/branch" "$cfg" &&
    grep -q "^note: $tmp/branch held 1 checkpoint of later epochs (up to 3), of the line of the run this resume leaves: removed, with the history past epoch 2" "$tmp/branch2.out" ||
    fail "a resume from an earlier checkpoint: no note: $(head -4 "$tmp/branch2.out")"
h5diff "$tmp/branch/checkpoint-e0003.h5" "$tmp/full/previous/checkpoint-e0003.h5" /model /model >/dev/null ||
    fail "the replaced checkpoint of epoch 3 differs from the uninterrupted run's"

# another seed: the data order goes on from the checkpoint, what the seed keys does not
run seed -t 2 --resume "$tmp/branch/latest.h5" --epochs 4 --seed 8 -o "$tmp/branch" "$cfg" &&
    grep -q "^note: training.seed 7 -> 8 differs from the checkpoint's run: the data order goes on from the checkpoint, but dropout masks and image shifts follow seed 8" "$tmp/seed.out" ||
    fail "a resume with another seed: no note: $(head -4 "$tmp/seed.out")"

# another weight decay or dropout rate: the run goes on with them, and a note says so (until
# 2026-12 nothing did)
run decay -t 2 --resume "$tmp/branch/latest.h5" --epochs 5 -S training.weight_decay=0.01 -o "$tmp/branch" "$cfg" &&
    grep -q "^note: training.weight_decay 0 -> 0.01 differs from the checkpoint's run: the run goes on with this config's, so it is not the run it continues" "$tmp/decay.out" ||
    fail "a resume with another weight decay: no note: $(head -4 "$tmp/decay.out")"

# a checkpoint written inside an epoch (the fuzz corpus's: two batches of 8 into epoch 2) at
# another batch size: refused in one line, exit 2, the file untouched (until 2026-12 it resumed,
# training some of the epoch's samples twice: a train accuracy of 120%); at its own it resumes
mid=tests/fuzz/corpus/ckpt/mid-epoch.h5
cp "$mid" "$tmp/mid.h5"
"$bin" --resume "$tmp/mid.h5" --set training.batch_size=4 -o "$tmp/mid" \
    tests/fuzz/configs/mlp.ini >"$tmp/mid.out" 2>"$tmp/mid.err"
rc=$?
[ "$rc" = 2 ] && [ "$(cat "$tmp/mid.err")" = "omptrain: $tmp/mid.h5: written inside epoch 2 after 2 batches of 8 samples; training.batch_size 4 would train some of that epoch's samples twice and skip others: finish the epoch first (--set training.batch_size=8 --epochs 2), then resume from there at 4" ] ||
    fail "a mid-epoch checkpoint at another batch size: exit $rc: $(cat "$tmp/mid.err")"
cmp -s "$mid" "$tmp/mid.h5" || fail "the refused resume changed the checkpoint"
run mid8 --resume "$tmp/mid.h5" --epochs 2 -o "$tmp/mid" tests/fuzz/configs/mlp.ini ||
    fail "the mid-epoch checkpoint does not resume at its own batch size"

[ "$fails" -eq 0 ] || exit 1
echo "checkpoint_resume.sh: ok (not into another run's directory, a note before later checkpoints are replaced and on another seed, a mid-epoch checkpoint only at its batch size, resume bit-exact at 2 and 3->1 threads, adam, early stopping, history 3 epochs / 60 steps, keep, eval, plot, finished run, an earlier run set aside)"
