#!/bin/sh
# Library mode started and stopped 100 times in one process: every cycle
# works, and the process does not grow (maps, threads) across cycles.
b=${top_builddir:-.}
out=$("$b/tests/startstop_prog" 100) || { echo "startstop_prog failed: $out"; exit 1; }
echo "$out"
