#!/bin/sh
# GORT_TRACE writes a Chrome Trace Event file that parses and whose
# events pair up (tests/trace_check.py).  Skipped without python3.
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed: skipped"; exit 77; }
b=${top_builddir:-.}
s=${srcdir:-.}
f=$(mktemp)
trap 'rm -f "$f"' EXIT
GORT_MAXPROCS=2 GORT_TRACE="$f" "$b/tests/trace_prog" || { echo "trace_prog failed"; exit 1; }
python3 "$s/tests/trace_check.py" "$f"
