# lib.sh - the helpers the shell tests share; sourced, not run: a test sources it near its top,
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# and gets
#   test_name  the test's file name (onnx.sh), which its messages start with
#   tmp        a new directory ${TMPDIR:-/tmp}/omptrain-NAME.XXXXXX, removed on exit (a test with
#              more to clean up sets its own EXIT trap after sourcing)
#   fails      0, the count of failures
#   fail MESSAGE                   "NAME: FAIL: MESSAGE" on stderr, one more failure counted
#   run NAME ARGS...               "$bin" ARGS must exit 0; output in $tmp/NAME.out / .err
#   run_cmd NAME COMMAND...        the same for any command; a failure shows stderr's last 3 lines
#   expect STATUS FRAGMENT ARGS... "$bin" ARGS exits STATUS with exactly one line on stderr,
#                                  holding FRAGMENT (grep -F); output in $tmp/x.out / .err
# run and expect call $bin, which the test sets (${OMPTRAIN:-./omptrain}). A test whose fail or
# expect checks something else defines its own after sourcing this.
# scripts/run-tests.sh leaves this file out of the tests it runs.
# shellcheck shell=bash disable=SC2154 # $bin: the test sets it
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "lib.sh: the shell tests' helpers: source it from a test, do not run it" >&2
    exit 2
fi

test_name=$(basename "${BASH_SOURCE[1]:-$0}")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/omptrain-${test_name%.sh}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "$test_name: FAIL: $*" >&2; fails=$((fails + 1)); }

run() {
    local name=$1; shift
    "$bin" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        fail "$name: '$bin $*' exited $rc: $(cat "$tmp/$name.err")"
        return 1
    fi
}

run_cmd() {
    local name=$1; shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        fail "$name: '$*' exited $rc: $(tail -3 "$tmp/$name.err")"
        return 1
    fi
}

expect() {
    local want=$1 frag=$2; shift 2
    "$bin" "$@" >"$tmp/x.out" 2>"$tmp/x.err"
    local got=$?
    if [ "$got" -ne "$want" ] || [ "$(wc -l <"$tmp/x.err")" -ne 1 ] ||
        ! grep -qF -- "$frag" "$tmp/x.err"; then
        fail "omptrain $*: exit $got (want $want), stderr: $(cat "$tmp/x.err")"
    else
        echo "ok   omptrain $* -> $got: $frag"
    fi
}
