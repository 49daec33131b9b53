#!/bin/sh
# bench/run.sh - run the bench programs and print a markdown table.
#
# Usage, from the build directory (this is what `make bench` runs):
#     sh bench/run.sh bench/yield bench/pingpong ...
#
# Each program prints one line, "<name> <P> <figure> <unit>" (bench/bench.h),
# and checks its own result.  Each is run twice, with GORT_MAXPROCS=1 and
# with GORT_MAXPROCS=$(nproc) ("P=all"), except yield, which is defined at
# P=1 only.  For parallel the table gets one more row, "parallel speedup":
# T(P=1) / T(P=all).  Extra arguments for every program (a factor that
# scales N) can be given in BENCH_ARGS.
#
# A program that exits non-zero, or prints anything but one well-formed
# result line, stops the run: its output goes to stderr and the script
# exits 1.
set -u

all=$(nproc)

fail() {
    printf 'bench/run.sh: FAILED: %s\n' "$*" >&2
    exit 1
}

# run PROGRAM P: run PROGRAM at GORT_MAXPROCS=P; sets fig and unit.
run() {
    case $1 in
    /*) cmd=$1 ;;
    *) cmd=./$1 ;;
    esac
    [ -x "$cmd" ] || fail "$1: no such program (run from the build directory)"
    # shellcheck disable=SC2086  # BENCH_ARGS is meant to split
    if ! out=$(GORT_MAXPROCS=$2 "$cmd" ${BENCH_ARGS:-} </dev/null 2>&1); then
        printf '%s\n' "$out" >&2
        fail "$1 at GORT_MAXPROCS=$2 exited with a failure status"
    fi
    # One line of exactly four fields: name, P, a number, a unit.
    line=$(printf '%s\n' "$out" | awk -v p="$2" '
        NF == 4 && $2 == p && $3 ~ /^[0-9]+(\.[0-9]+)?$/ { n++; l = $0 }
        END { if (n == 1 && NR == 1) print l }')
    if [ -z "$line" ]; then
        printf '%s\n' "$out" >&2
        fail "$1 at GORT_MAXPROCS=$2 did not print one '<name> $2 <figure> <unit>' line"
    fi
    # shellcheck disable=SC2086
    set -- $line
    fig=$3
    unit=$4
}

printf '| workload | P=1 | P=all | unit |\n'
printf '|---|---:|---:|---|\n'
for b in "$@"; do
    name=${b##*/}
    run "$b" 1
    t1=$fig
    if [ "$name" = yield ]; then
        printf '| %s | %s | — | %s |\n' "$name" "$t1" "$unit"
        continue
    fi
    run "$b" "$all"
    printf '| %s | %s | %s | %s |\n' "$name" "$t1" "$fig" "$unit"
    if [ "$name" = parallel ]; then
        speedup=$(awk -v a="$t1" -v b="$fig" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
        [ -n "$speedup" ] || fail "parallel: cannot compute the speedup from $t1 and $fig"
        printf '| parallel speedup | — | %s | x (T(P=1) / T(P=all)) |\n' "$speedup"
    fi
done
printf '\nP=all is GORT_MAXPROCS=%s (nproc on this machine).\n' "$all"
