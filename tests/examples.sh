#!/bin/sh
# Smoke-run every example: each must exit 0 and print its last line.
set -e
b=${top_builddir:-.}/examples
out=$("$b/hello")
echo "$out" | grep -q "all 3 workers done" || { echo "hello: unexpected output: $out"; exit 1; }
out=$("$b/cgo_host")
echo "$out" | grep -q "running on the host's hooks" || { echo "cgo_host: unexpected output: $out"; exit 1; }
echo "examples: ok"
