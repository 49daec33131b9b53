#!/bin/sh
# Run each bench program given at P=1 and P=all and print a table.
# Usage: bench/run.sh bench/yield ...   (from the build directory)
all=$(nproc)
printf '%-10s %4s %14s  %s\n' workload P figure unit
for b in "$@"; do
    for p in 1 "$all"; do
        line=$(GORT_MAXPROCS=$p "./$b") || { echo "$b failed at P=$p" >&2; exit 1; }
        set -- $line
        printf '%-10s %4s %14s  %s\n' "$1" "$2" "$3" "$4"
        [ "$1" = yield ] && break   # defined at P=1 only
    done
done
