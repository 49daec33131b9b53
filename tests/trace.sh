#!/bin/sh
# GORT_TRACE writes a Chrome Trace Event file that parses and whose
# events pair up (tests/trace_check.py).  Skipped without python3.
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed: skipped"; exit 77; }
b=${top_builddir:-.}
s=${srcdir:-.}
f=$(mktemp)
trap 'rm -f "$f"' EXIT
GORT_MAXPROCS=2 GORT_TRACE="$f" "$b/tests/trace_prog" || { echo "trace_prog failed"; exit 1; }
python3 "$s/tests/trace_check.py" "$f" || exit 1
# ... and the offline viewer turns it into a page with a bar per slice.
python3 "$s/tools/gort-trace-html" "$f" > "$f.html" || { echo "gort-trace-html failed"; exit 1; }
bars=$(grep -c 'class="g"' "$f.html")
rm -f "$f.html"
[ "$bars" -gt 50 ] || { echo "gort-trace-html drew only $bars goroutine bars"; exit 1; }
echo "trace: html ok ($bars bars)"
