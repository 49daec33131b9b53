#!/bin/sh
# Smoke-run every example: each must exit 0 and print its expected line.
set -e
b=${top_builddir:-.}/examples

# run NAME PATTERN [ARGS...]: run examples/NAME, which must exit 0 and
# print a line matching PATTERN (a grep basic regular expression).
run() {
    name=$1 pattern=$2
    shift 2
    if ! out=$("$b/$name" "$@" </dev/null 2>&1); then
        printf '%s: exited with a failure status; output:\n%s\n' "$name" "$out"
        exit 1
    fi
    if ! printf '%s\n' "$out" | grep -q "$pattern"; then
        printf '%s: no line matching "%s"; output:\n%s\n' "$name" "$pattern" "$out"
        exit 1
    fi
}

run hello "all 3 workers done"
run embed "host: gort stopped; main thread carries on and exits 0"
run primes "the 100th prime is 541 (checked by trial division)"
run primes "the 1000th prime is 7919 (checked by trial division)" 1000
run cgo_host "parallel work done on [0-9]* processors, on threads started by the host's hook"
echo "examples: ok"
