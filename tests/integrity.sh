#!/usr/bin/env bash
# integrity.sh - checkpoints prove their integrity, one run per output directory:
# - a bit flipped at the start, middle or end of each kind of tensor of a real checkpoint
#   (parameters, running statistics, optimizer buffers, the position's arrays and scalars, the
#   early-stopping copy), a truncated file, and damaged HDF5 metadata (an object header, the
#   root attributes, the superblock) are each refused by eval, --resume and gradcheck with one
#   line naming the file and what is damaged, and `omptrain verify` agrees (exit 1); so are
#   single bits of metadata that had passed verify (an attribute of /optimizer, the name of a
#   crc32 attribute or of a link, a float64 datatype's field), and in a history (a link name, a
#   float64 datatype's field) by verify and --resume alike; a FIFO is refused, not waited
#   on; an intact
#   checkpoint and history verify (exit 0); verify DIR verifies each file a run writes there,
#   in name order (an empty directory: one message, exit 1);
# - --resume DIR skips a damaged newest checkpoint, saying why, and resumes from the one
#   before; --resume FILE refuses the damaged file;
# - a second run into a directory in use stops at once naming the other run's process; after
#   that run is killed with SIGKILL its lock does not block the next run.
# Run from the repository root (make check). OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
cfg=tests/configs/ckpt-adam.ini # adam buffers, batch norm, early stopping copies
. tests/lib.sh # the shared helpers: $tmp, fail
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT # lib.sh's, and the run

"$bin" -t 2 --set output.keep=2 -o "$tmp/run" "$cfg" >"$tmp/run.out" 2>&1 || { fail "the run failed: $(cat "$tmp/run.out")"; exit 1; }
good="$tmp/run/checkpoint-e0003.h5"
out=$("$bin" verify "$tmp"/run/checkpoint-e000*.h5 "$tmp/run/history.h5") ||
    fail "verify of intact files exited $?: $out"
[ "$(grep -c ': ok (' <<<"$out")" = 4 ] || fail "verify did not say ok four times: $out"
# a run directory: each file a run writes there, in name order
want=$(cd "$tmp/run" && ls checkpoint-e*.h5 history.h5 latest.h5 | sort | sed "s|^|$tmp/run/|")
out=$("$bin" verify "$tmp/run") || fail "verify of the run directory exited $?: $out"
[ "$(sed 's/: ok (.*//' <<<"$out")" = "$want" ] ||
    fail "verify of the run directory did not say ok for each of its files in order: $out"

# expect_refused FILE WHAT: eval, --resume, gradcheck and verify each refuse FILE with exit 1
# and one line that names FILE and WHAT
expect_refused() {
    local f=$1 what=$2 rc err
    for cmd in eval resume gradcheck; do
        case $cmd in
        eval) "$bin" eval --checkpoint "$f" "$cfg" >/dev/null 2>"$tmp/err" ;;
        resume) "$bin" --resume "$f" --epochs 5 -o "$tmp/resumed" "$cfg" >/dev/null 2>"$tmp/err" ;;
        gradcheck) "$bin" gradcheck --entries 5 --checkpoint "$f" "$cfg" >/dev/null 2>"$tmp/err" ;;
        esac
        rc=$?
        err=$(cat "$tmp/err")
        [ "$rc" = 1 ] || fail "$cmd of $what: exit $rc, expected 1 ($err)"
        [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$cmd of $what: not one line: $err"
        grep -qF "$f" "$tmp/err" && grep -qF "$what" "$tmp/err" ||
            fail "$cmd of $what: the message does not name the file and '$what': $err"
    done
    out=$("$bin" verify "$f")
    rc=$?
    [ "$rc" = 1 ] || fail "verify of $what: exit $rc, expected 1 ($out)"
    grep -qF "DAMAGED" <<<"$out" && grep -qF "$what" <<<"$out" ||
        fail "verify of $what does not say DAMAGED and '$what': $out"
}

# flip FILE DATASET WHERE: one bit of DATASET's stored bytes, at its start, middle or end
flip() {
    cp "$good" "$1"
    $py - "$1" "$2" "$3" <<'EOF' || fail "cannot flip a bit of $2 ($3)"
import sys, h5py
path, name, where = sys.argv[1:]
with h5py.File(path, "r") as f:
    d = f[name]
    off, size = d.id.get_offset(), d.id.get_storage_size()
at = off + {"start": 0, "middle": size // 2, "end": size - 1}[where]
with open(path, "r+b") as f:
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x10]))
EOF
}

n=0
for ds in /model/affine1/W /model/bn1/beta /model/bn1/running_var /optimizer/m/affine1/W \
          /optimizer/v/affine2/b /state/order /state/rng /state/best_params/affine2/W; do
    for where in start middle end; do
        [ "$ds" = /state/rng ] && [ "$where" = middle ] && continue
        n=$((n + 1))
        flip "$tmp/bad$n.h5" "$ds" "$where"
        expect_refused "$tmp/bad$n.h5" "$ds is damaged"
    done
done
# a scalar of the position
flip "$tmp/scalar.h5" /state/epoch start
expect_refused "$tmp/scalar.h5" "/state/epoch is damaged"

# single bits of metadata that had passed verify (an audit flipped every bit of a checkpoint):
# a value of /optimizer's attributes, the name of a crc32 attribute (of /optimizer, /input,
# the root), a link's name (state/epoch -> epoch\x01), the exponent bias of a float64 datatype
# (HDF5 still converts from it, and the checksum is of the bytes)
flip_meta() {
    cp "$good" "$1"
    $py - "$1" "$2" <<'EOF' || fail "cannot flip the bit of $2"
import io, struct, sys, h5py
path, case = sys.argv[1:]
b = bytearray(open(path, "rb").read())
def header(p):
    with h5py.File(path, "r") as f:
        return h5py.h5o.get_info(f[p].id).addr
def find(pat, start=0, end=None):
    i = b.find(pat, start, len(b) if end is None else end)
    assert i >= 0, (case, pat)
    return i
def crc_name_of(obj):
    # the crc32 attribute name whose one changed bit takes obj's checksum away (an object
    # header may continue elsewhere in the file)
    i = -1
    while True:
        i = find(b"crc32\0", i + 1)
        c = bytearray(b); c[i + 4] ^= 0x01
        with h5py.File(io.BytesIO(bytes(c)), "r") as f:
            if "crc32" not in f[obj].attrs:
                return i + 4
if case == "beta1":
    i = find(b"beta1\0", header("/optimizer"))
    at = find(struct.pack("<d", 0.9), i, i + 64) + 6          # 0.9 -> 0.45
elif case in ("/optimizer", "/input", "/"):
    at = crc_name_of(case)                                     # crc32 -> crc33
elif case == "link":
    at = find(b"\0epoch\0") + 6                                # epoch -> epoch\x01
elif case == "f64type":
    h = header("/state/best_val_loss")
    at = find(bytes([0x11, 0x20, 0x3f, 0, 8, 0, 0, 0, 0, 0, 64, 0, 52, 11, 0, 52,
                     0xff, 3, 0, 0]), h, h + 512) + 16         # exponent bias 1023 -> 1022
b[at] ^= 0x01
open(path, "wb").write(b)
EOF
}
flip_meta "$tmp/beta1.h5" beta1
expect_refused "$tmp/beta1.h5" "/optimizer: its attributes are damaged"
for obj in /optimizer /input; do
    flip_meta "$tmp/crcname.h5" $obj
    expect_refused "$tmp/crcname.h5" "$obj has no checksum over its attributes"
done
flip_meta "$tmp/crcname.h5" /
expect_refused "$tmp/crcname.h5" "the root attributes have no checksum"
flip_meta "$tmp/link.h5" link
expect_refused "$tmp/link.h5" "/state/epoch is missing"
flip_meta "$tmp/type.h5" f64type
expect_refused "$tmp/type.h5" "/state/best_val_loss is stored as F64LE of a non-IEEE layout"

# a FIFO: refused in one line, not waited on (eval had hung in fopen); held open here for
# reading and writing, so that a reader that opens it does not hang the test
mkfifo "$tmp/fifo.h5"
exec 7<>"$tmp/fifo.h5"
"$bin" eval --checkpoint "$tmp/fifo.h5" "$cfg" >/dev/null 2>"$tmp/err"
rc=$?
exec 7>&-
[ $rc = 1 ] && [ "$(cat "$tmp/err")" = "omptrain: $tmp/fifo.h5: is a FIFO (named pipe), expected a checkpoint file" ] ||
    fail "eval of a FIFO: exit $rc: $(cat "$tmp/err")"

# a truncated file
head -c 20000 "$good" >"$tmp/cut.h5"
expect_refused "$tmp/cut.h5" "truncated or damaged"

# damaged metadata: a byte of the root attributes' values (the config text), the superblock's
# signature, a dataset's object header
cp "$good" "$tmp/attrs.h5"
$py - "$tmp/attrs.h5" <<'EOF' || fail "cannot damage the config attribute"
import sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
at = b.index(b"learning_rate = ")
b[at + 16] ^= 0x01
open(path, "wb").write(b)
EOF
expect_refused "$tmp/attrs.h5" "the root attributes are damaged"
cp "$good" "$tmp/sig.h5"
printf 'X' | dd of="$tmp/sig.h5" bs=1 seek=1 conv=notrunc 2>/dev/null
"$bin" eval --checkpoint "$tmp/sig.h5" "$cfg" >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "not an HDF5 file" "$tmp/err" || fail "a damaged signature: $(cat "$tmp/err")"
"$bin" verify "$tmp/sig.h5" | grep -q "NOT HDF5: no HDF5 signature (a damaged file" || fail "verify of a damaged signature"
cp "$good" "$tmp/hdr.h5"
$py - "$tmp/hdr.h5" <<'EOF' || fail "cannot damage an object header"
import sys, h5py
path = sys.argv[1]
with h5py.File(path, "r") as f:
    addr = h5py.h5o.get_info(f["/model/affine1/W"].id).addr
b = bytearray(open(path, "rb").read())
for k in range(16, 64):   # the header's messages: dataspace, type, layout, ...
    b[addr + k] ^= 0x5a
open(path, "wb").write(b)
EOF
"$bin" eval --checkpoint "$tmp/hdr.h5" "$cfg" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 1 ] || [ $rc = 2 ] || fail "a damaged object header: exit $rc: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -qF "$tmp/hdr.h5" "$tmp/err" ||
    fail "a damaged object header: not one line naming the file: $(cat "$tmp/err")"
"$bin" verify "$tmp/hdr.h5" | grep -qE "DAMAGED|CANNOT" || fail "verify of a damaged object header"

# a damaged history: its row of epoch 2 changed
cp "$tmp/run/history.h5" "$tmp/hist.h5"
$py - "$tmp/hist.h5" <<'EOF' || fail "cannot damage the history"
import sys, h5py
path = sys.argv[1]
with h5py.File(path, "r") as f:
    off = f["/epochs/test_loss"].id.get_chunk_info(0).byte_offset  # a growing dataset: chunked
b = bytearray(open(path, "rb").read())
b[off + 8 + 3] ^= 0x01
open(path, "wb").write(b)
EOF
"$bin" verify "$tmp/hist.h5" | grep -q "DAMAGED: /epochs/test_loss is damaged: its checksum" ||
    fail "verify of a damaged history: $("$bin" verify "$tmp/hist.h5")"

# single bits of a history's metadata that had passed verify while a resume refused the file or
# appended to it (a link name; a float64 datatype's field): verify and --resume say the same
for case in link f64type; do
    rm -rf "$tmp/hrun" && cp -r "$tmp/run" "$tmp/hrun"
    $py - "$tmp/hrun/history.h5" $case <<'EOF' || fail "cannot damage the history ($case)"
import sys, h5py
path, case = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    h = h5py.h5o.get_info(f["/epochs/train_loss"].id).addr
b = bytearray(open(path, "rb").read())
if case == "link":
    at = b.index(b"test_acc\0") + 7                             # test_acc -> test_acb
else:
    at = b.index(bytes([0x11, 0x20, 0x3f, 0, 8, 0, 0, 0, 0, 0, 64, 0, 52, 11, 0, 52,
                        0xff, 3, 0, 0]), h, h + 512) + 16       # exponent bias 1023 -> 1022
b[at] ^= 0x01
open(path, "wb").write(b)
EOF
    case $case in
    link) what="/epochs/test_acc is missing (not a complete omptrain history)" ;;
    f64type) what="/epochs/train_loss is stored as F64LE of a non-IEEE layout" ;;
    esac
    out=$("$bin" verify "$tmp/hrun/history.h5")
    [ $? = 1 ] && grep -qF "DAMAGED: $what" <<<"$out" || fail "verify of a history ($case): $out"
    "$bin" --resume "$tmp/hrun/latest.h5" --epochs 5 -o "$tmp/hrun" "$cfg" >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] &&
        grep -qF "$tmp/hrun/history.h5: $what" "$tmp/err" ||
        fail "--resume with a history ($case): exit $rc: $(cat "$tmp/err")"
done

# an HDF5 file that is not omptrain's: no checksums, and said so (it spoke of a format_version 0)
/usr/bin/python3 -c "import h5py, sys; h5py.File(sys.argv[1], 'w')['x'] = [1.0]" "$tmp/other.h5"
out=$("$bin" verify "$tmp/other.h5")
[ $? = 1 ] && grep -qx "$tmp/other.h5: UNVERIFIED: no checksums to verify (no format_version attribute on /: not an omptrain checkpoint or history file)" <<<"$out" ||
    fail "verify of another program's HDF5 file: $out"

# --resume DIR: the newest damaged, the one before used
mkdir -p "$tmp/dir"
cp "$tmp/run/checkpoint-e000"[23].h5 "$tmp/dir/"
flip "$tmp/dir/checkpoint-e0003.h5" /model/affine2/W middle
# verify DIR: each file, the damaged one named
out=$("$bin" verify "$tmp/dir")
[ $? = 1 ] && grep -q "checkpoint-e0002.h5: ok (" <<<"$out" &&
    grep -q "checkpoint-e0003.h5: DAMAGED: /model/affine2/W is damaged" <<<"$out" ||
    fail "verify of a directory with a damaged checkpoint: $out"
"$bin" --resume "$tmp/dir" --epochs 4 -o "$tmp/dir" "$cfg" >"$tmp/dir.out" 2>"$tmp/dir.err" ||
    fail "--resume DIR exited $?: $(cat "$tmp/dir.err")"
grep -q "checkpoint-e0003.h5: skipped: /model/affine2/W is damaged: its checksum" "$tmp/dir.err" ||
    fail "--resume DIR did not say why it skipped the damaged checkpoint: $(cat "$tmp/dir.err")"
grep -q "resumed from $tmp/dir/checkpoint-e0002.h5" "$tmp/dir.out" ||
    fail "--resume DIR did not resume from the checkpoint before: $(cat "$tmp/dir.out")"
mkdir -p "$tmp/empty"
"$bin" verify "$tmp/empty" >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "$tmp/empty: no checkpoint or history file there" "$tmp/err" &&
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "verify of an empty directory: $(cat "$tmp/err")"
"$bin" --resume "$tmp/empty" -o "$tmp/e2" "$cfg" >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "no checkpoint that verifies" "$tmp/err" || fail "--resume of a directory without checkpoints: $(cat "$tmp/err")"

# one run per directory; a killed run's lock does not block the next
"$bin" -t 1 --epochs 10000 --set training.patience=0 -o "$tmp/busy" "$cfg" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do [ -s "$tmp/busy/.omptrain.lock" ] && break; sleep 0.01; done
"$bin" --epochs 1 -o "$tmp/busy" "$cfg" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc = 1 ] && grep -q "$tmp/busy: in use by another run (process $pid)" "$tmp/err" ||
    fail "a second run into a directory in use: exit $rc: $(cat "$tmp/err")"
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
"$bin" --epochs 1 -o "$tmp/busy" "$cfg" >/dev/null 2>"$tmp/err" ||
    fail "a run after the holder was killed is blocked: $(cat "$tmp/err")"

[ "$fails" -eq 0 ] || exit 1
echo "integrity.sh: ok ($n bit flips in 8 kinds of tensor, a scalar, 6 bits of metadata, truncation, root attributes, signature, object header, history and 2 bits of its metadata: each refused by name; a FIFO refused; --resume DIR skips the damaged; one run per directory, no stale lock)"
