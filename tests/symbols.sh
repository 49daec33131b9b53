#!/bin/sh
# Every global symbol gort defines, in the shared and the static library,
# is gort_-prefixed, except the _cgo_* hook variables of the cgo ABI; and
# nothing the host side of that ABI owns (x_cgo_*, crosscall_amd64, ...)
# is defined by gort.
set -e
lib=${top_builddir:-.}/.libs
fail=0
check() {
    what=$1
    bad=$(grep -v -E '^(gort_[A-Za-z0-9_]+|_cgo_(init|thread_start|sys_thread_create|notify_runtime_init_done|set_context_function|mmap|munmap))$' || true)
    if [ -n "$bad" ]; then
        echo "FAIL: $what defines symbols outside gort_/_cgo_*:"
        echo "$bad" | sed 's/^/    /'
        fail=1
    fi
}
# Dynamic exports of the shared library.
nm -D --defined-only "$lib/libgort.so" | awk '{print $3}' | sort -u | check "libgort.so (dynamic)"
# Every global symbol in the static archive (hidden ones included).
nm -g --defined-only "$lib/libgort.a" | awk 'NF==3 {print $3}' | sort -u | check "libgort.a"
# The exported set must include the public API and the hooks.
for s in gort_main gort_go gort_yield gort_id _cgo_init _cgo_thread_start; do
    nm -D --defined-only "$lib/libgort.so" | awk '{print $3}' | grep -qx "$s" || {
        echo "FAIL: $s not exported"; fail=1; }
done
# Internals stay hidden.
for s in gort_sched gort_ctx_switch gort_rt0_go gort_stack_alloc; do
    if nm -D --defined-only "$lib/libgort.so" | awk '{print $3}' | grep -qx "$s"; then
        echo "FAIL: internal $s is exported"; fail=1
    fi
done
# Non-executable stacks.
if readelf -lW "$lib/libgort.so" | grep GNU_STACK | grep -q RWE; then
    echo "FAIL: libgort.so asks for an executable stack"; fail=1
fi
[ $fail = 0 ] && echo "symbols: ok"
exit $fail
