/*
 * layout.h - offsets and constants shared by the C runtime and the assembly.
 *
 * The assembly in asm/amd64 cannot include C struct definitions, so every
 * offset it relies on is spelled out here once.  The C side checks each of
 * them twice: with _Static_assert at compile time (runtime.h) and again at
 * start-up in gort_check(), the step of the entry that mirrors Go's
 * runtime·check, so a layout change that slipped past one is caught by the
 * other.
 *
 * The first four words of a goroutine descriptor are fixed by the cgo hook
 * ABI: a host's _cgo_init edits stack_lo/stack_hi of g0 through its own view
 * of the struct ({uintptr_t stacklo, stackhi}).
 */
#ifndef GORT_LAYOUT_H
#define GORT_LAYOUT_H

#define GORT_G_STACK_LO      0
#define GORT_G_STACK_HI      8
#define GORT_G_STACKGUARD0   16
#define GORT_G_STACKGUARD1   24

/* Further fields the entry touches when it links m0 and g0. */
#define GORT_G_M             40
#define GORT_M_G0            0

/* --enable-sanitizer=thread: gort_yield (switch.S) tells TSan which fiber
 * it switches to. */
#define GORT_G_TSAN_FIBER    152

/* Bytes below stack_lo + GORT_STACK_GUARD are reserved; the stackguards
 * point there.  Same value as Go 1.19 on linux/amd64. */
#define GORT_STACK_GUARD     928

/* The entry carves g0's stack from the OS stack before _cgo_init may say
 * better: [SP - 64 KiB + 104, SP). */
#define GORT_G0_STACK_CARVE  (64 * 1024 - 104)

/* The value the entry stores through the TLS g slot to prove it works. */
#define GORT_TLS_PROBE       0x123

/* Offsets inside gort_cpu (src/cpu.c), one byte per flag. */
#define GORT_CPU_IS_INTEL        0
#define GORT_CPU_LFENCE_RDTSC    1
#define GORT_CPU_SSE2            2
#define GORT_CPU_SSSE3           3
#define GORT_CPU_SSE41           4
#define GORT_CPU_SSE42           5
#define GORT_CPU_POPCNT          6
#define GORT_CPU_AES             7
#define GORT_CPU_OSXSAVE         8
#define GORT_CPU_AVX             9
#define GORT_CPU_BMI1            10
#define GORT_CPU_AVX2            11
#define GORT_CPU_BMI2            12
#define GORT_CPU_ERMS            13
#define GORT_CPU_VERSION         16   /* uint32_t: CPUID.1:EAX */
#define GORT_CPU_MAXLEAF         20   /* uint32_t: CPUID.0:EAX */
#define GORT_CPU_SIZE            24

/* Saved context of a switched-out goroutine, as gort_ctx_switch leaves it
 * on the goroutine's own stack (lowest address first):
 *   +0  MXCSR (4 bytes), +4 x87 control word (2 bytes), 2 bytes pad
 *   +8  r15, +16 r14, +24 r13, +32 r12, +40 rbx, +48 rbp, +56 return PC */
#define GORT_CTX_FPCSR       0
#define GORT_CTX_R15         8
#define GORT_CTX_R14         16
#define GORT_CTX_R13         24
#define GORT_CTX_R12         32
#define GORT_CTX_RBX         40
#define GORT_CTX_RBP         48
#define GORT_CTX_PC          56
#define GORT_CTX_SIZE        64

/* Reset state of MXCSR (all exceptions masked, round to nearest) and of the
 * x87 control word, given to every new goroutine. */
#define GORT_MXCSR_INIT      0x1f80
#define GORT_FPUCW_INIT      0x037f

#endif
