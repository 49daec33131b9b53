/*
 * rt0.S - gort's entry on amd64: gort_rt0_go.
 *
 * It follows Go 1.19's runtime·rt0_go (asm_amd64.s) step by step; each
 * block below names the step it mirrors.  Differences, and why:
 *
 *   - It is called, and returns: gort_main(argc, argv, ...) calls it on the
 *     host's thread and gets the main goroutine's exit status back.  So it
 *     keeps a frame (rbp) and the callee-saved registers of its caller, and
 *     the final step is "mstart returns, tear down, return" instead of a
 *     crash after mstart.
 *   - The TLS step does not call settls: the host's libc owns the thread
 *     pointer (%fs), and gort keeps the current g in its own initial-exec
 *     TLS slot.  The step still stores a probe value through the slot and
 *     reads it back through the plain address of the same slot
 *     (thread pointer + offset), so a broken TLS model stops here, with a
 *     message, and not later with a scrambled g.
 *   - _cgo_init is called with tlsg = tlsbase = NULL (gort has no TLS for
 *     the host to set up), as Go does on linux/amd64.
 */
#include "layout.h"
#include "frame.h"

	.text

	.globl	gort_rt0_go
	.hidden	gort_rt0_go
	.type	gort_rt0_go, @function
	.p2align 4
gort_rt0_go:
	.cfi_startproc
	FRAME_ENTER
	pushq	%rbx
	.cfi_offset %rbx, -24
	pushq	%r12
	.cfi_offset %r12, -32
	pushq	%r13
	.cfi_offset %r13, -40
	pushq	%r14
	.cfi_offset %r14, -48
	pushq	%r15
	.cfi_offset %r15, -56

	/* Step 1 (seed: "copy arguments forward on an even stack"):
	 * 2 args + 2 autos, 16-byte aligned. */
	movq	%rdi, %rax		/* argc */
	movq	%rsi, %rbx		/* argv */
	subq	$(4*8+7), %rsp
	andq	$~15, %rsp
	movq	%rax, 16(%rsp)
	movq	%rbx, 24(%rsp)

	/* Step 2 (seed: "create istack out of the given (operating system)
	 * stack"): g0 gets [SP - 64 KiB + 104, SP); both stackguards start at
	 * the low bound; _cgo_init may say better. */
	leaq	gort_g0(%rip), %rdi
	leaq	-GORT_G0_STACK_CARVE(%rsp), %rbx
	movq	%rbx, GORT_G_STACKGUARD0(%rdi)
	movq	%rbx, GORT_G_STACKGUARD1(%rdi)
	movq	%rbx, GORT_G_STACK_LO(%rdi)
	movq	%rsp, GORT_G_STACK_HI(%rdi)

	/* Step 3 (seed: "find out information about the processor we're on").
	 * %r8 points at gort_cpu; %esi keeps the highest basic leaf. */
	leaq	gort_cpu(%rip), %r8
	xorl	%eax, %eax
	cpuid
	movl	%eax, %esi
	movl	%eax, GORT_CPU_MAXLEAF(%r8)
	testl	%eax, %eax
	je	.Lnocpuinfo

	/* Serialising RDTSC: LFENCE is enough on Intel. */
	cmpl	$0x756E6547, %ebx	/* "Genu" */
	jne	.Lnotintel
	cmpl	$0x49656E69, %edx	/* "ineI" */
	jne	.Lnotintel
	cmpl	$0x6C65746E, %ecx	/* "ntel" */
	jne	.Lnotintel
	movb	$1, GORT_CPU_IS_INTEL(%r8)
	movb	$1, GORT_CPU_LFENCE_RDTSC(%r8)
.Lnotintel:

	/* Leaf 1: version and the feature bits in ECX/EDX. */
	movl	$1, %eax
	cpuid
	movl	%eax, GORT_CPU_VERSION(%r8)
	testl	$(1<<26), %edx
	setne	GORT_CPU_SSE2(%r8)
	testl	$(1<<9), %ecx
	setne	GORT_CPU_SSSE3(%r8)
	testl	$(1<<19), %ecx
	setne	GORT_CPU_SSE41(%r8)
	testl	$(1<<20), %ecx
	setne	GORT_CPU_SSE42(%r8)
	testl	$(1<<23), %ecx
	setne	GORT_CPU_POPCNT(%r8)
	testl	$(1<<25), %ecx
	setne	GORT_CPU_AES(%r8)
	testl	$(1<<27), %ecx
	setne	GORT_CPU_OSXSAVE(%r8)
	/* Cleared again below if the OS does not save YMM state. */
	testl	$(1<<28), %ecx
	setne	GORT_CPU_AVX(%r8)

	/* Leaf 7, subleaf 0, if the CPU has it. */
	cmpl	$7, %esi
	jl	.Losavx
	movl	$7, %eax
	xorl	%ecx, %ecx
	cpuid
	testl	$(1<<3), %ebx
	setne	GORT_CPU_BMI1(%r8)
	testl	$(1<<5), %ebx
	setne	GORT_CPU_AVX2(%r8)
	testl	$(1<<8), %ebx
	setne	GORT_CPU_BMI2(%r8)
	testl	$(1<<9), %ebx
	setne	GORT_CPU_ERMS(%r8)

.Losavx:
	/* AVX is usable only if the OS saves XMM and YMM (XCR0 bits 1, 2);
	 * XGETBV needs OSXSAVE and nothing more. */
	cmpb	$1, GORT_CPU_OSXSAVE(%r8)
	jne	.Lnoavx
	xorl	%ecx, %ecx
	xgetbv
	andl	$6, %eax
	cmpl	$6, %eax
	je	.Lnocpuinfo
.Lnoavx:
	movb	$0, GORT_CPU_AVX(%r8)
	movb	$0, GORT_CPU_AVX2(%r8)

.Lnocpuinfo:
	/* Step 4 (seed: "if there is an _cgo_init, call it"):
	 * _cgo_init(g0, setg, NULL, NULL).  The hook variable is exported
	 * and may be assigned by the host, so it is read through the GOT. */
	movq	_cgo_init@GOTPCREL(%rip), %rax
	movq	(%rax), %rax
	testq	%rax, %rax
	jz	.Lneedtls
	leaq	gort_g0(%rip), %rdi
	leaq	gort_setg_gcc(%rip), %rsi
	xorl	%edx, %edx
	xorl	%ecx, %ecx
	call	*%rax

	/* Seed: "update stackguard after _cgo_init". */
	leaq	gort_g0(%rip), %rcx
	movq	GORT_G_STACK_LO(%rcx), %rax
	addq	$GORT_STACK_GUARD, %rax
	movq	%rax, GORT_G_STACKGUARD0(%rcx)
	movq	%rax, GORT_G_STACKGUARD1(%rcx)

.Lneedtls:
	/* Step 5 (seed: settls, then "store through it, to make sure it
	 * works"): store the probe through %fs:slot, read it back through
	 * the slot's linear address (%fs:0 holds the thread pointer itself
	 * on x86-64 glibc and musl). */
	movq	gort_tls_g@GOTTPOFF(%rip), %rax
	movq	$GORT_TLS_PROBE, %fs:(%rax)
	movq	%fs:0, %rdx
	movq	(%rdx,%rax), %rdi
	cmpq	$GORT_TLS_PROBE, %rdi
	je	.Ltlsok
	call	gort_tls_failed		/* does not return */
	ud2
.Ltlsok:

	/* Step 6 (seed: "set the per-goroutine and per-mach registers"):
	 * g = g0, m0->g0 = g0, g0->m = m0. */
	leaq	gort_g0(%rip), %rcx
	movq	%rcx, %fs:(%rax)
	leaq	gort_m0(%rip), %rdx
	movq	%rcx, GORT_M_G0(%rdx)
	movq	%rdx, GORT_G_M(%rcx)

	cld				/* the direction flag is clear by convention */
	call	gort_check

	/* Step 7 (seed: args, osinit, schedinit). */
	movl	16(%rsp), %edi		/* argc */
	movq	24(%rsp), %rsi		/* argv */
	call	gort_args_init
	call	gort_osinit
	call	gort_schedinit

	/* Step 8 (seed: "create a new goroutine to start program"). */
	call	gort_newproc_main

	/* Step 9 (seed: "start this M").  On m0, mstart returns once the
	 * main goroutine has returned; then tear down and hand the status
	 * back to gort_main. */
	call	gort_mstart
	call	gort_rt0_exit

	leaq	-40(%rbp), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	gort_rt0_go, .-gort_rt0_go

	.section .note.GNU-stack,"",@progbits
