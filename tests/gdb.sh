#!/bin/sh
# The gdb helper (gdb/gort-gdb.py) on a live program: `info goroutines`
# lists the parked goroutines with their wait reason, `goroutine N bt`
# shows a parked goroutine's own frames, and the thread's registers are
# back afterwards.  Skipped when gdb is not installed.
command -v gdb >/dev/null 2>&1 || { echo "gdb not installed: skipped"; exit 77; }
b=${top_builddir:-.}
s=${srcdir:-.}
out=$(gdb -nx -batch -ex "source $s/gdb/gort-gdb.py" -ex "break stop_here" -ex run \
      -ex "info goroutines" -ex "goroutine 2 bt" -ex "bt 2" "$b/tests/gdb_prog" 2>&1)
fail=0
check() {
    printf '%s\n' "$out" | grep -q -- "$1" || { echo "FAIL: no match for: $1"; fail=1; }
}
check '^\* goroutine 1 \[running\]'
check '^  goroutine 2 \[chan receive\]'
check '^  goroutine 3 \[chan receive\]'
check 'in deep_wait (n=n@entry=3)'
check 'in waiter '
check 'gort_gostart'
check '^#0  stop_here'
[ $fail = 0 ] || printf '%s\n' "$out"
[ $fail = 0 ] && echo "gdb: ok"
exit $fail
