/*
 * cgocall.S - run a C function on another stack.
 *
 * void gort_asmcgocall(void (*fn)(void *), void *arg, uintptr_t stack_top,
 *                      uintptr_t *save_sp)
 *
 * Stores the caller's stack pointer in *save_sp (if not NULL), moves to
 * stack_top (16-byte aligned down; 0 means stay on this stack), calls
 * fn(arg) there and comes back.  Foreign calls use it to run C code on the
 * M's system stack (g0) rather than the goroutine's, and callbacks use it
 * the other way round, to run the goroutine side on the goroutine's stack.
 *
 * The frame keeps %rbp as the CFA register, so an unwinder stopped in the
 * C code walks from the system stack back onto the goroutine stack:
 * gdb shows one backtrace across both.
 *
 * void gort_asmffi(ffi_cif *cif, void (*fn)(void), void *rvalue,
 *                  void **avalues, uintptr_t stack_top, uintptr_t *save_sp)
 *
 * The same for gort_ffi_call: ffi_call(cif, fn, rvalue, avalues) on
 * stack_top (not 0), the caller's stack pointer stored in *save_sp (not
 * NULL).  The four arguments are already where ffi_call wants them, so
 * no argument block is built and no trampoline runs in between.
 */
#include "frame.h"

	.text

	.globl	gort_asmcgocall
	.hidden	gort_asmcgocall
	.type	gort_asmcgocall, @function
	.p2align 4
gort_asmcgocall:
	.cfi_startproc
	FRAME_ENTER
	testq	%rcx, %rcx
	jz	1f
	movq	%rsp, (%rcx)
1:
	movq	%rdi, %rax
	movq	%rsi, %rdi
	testq	%rdx, %rdx
	jz	2f
	movq	%rdx, %rsp
2:
	andq	$-16, %rsp
	call	*%rax
	FRAME_LEAVE
	ret
	.cfi_endproc
	.size	gort_asmcgocall, .-gort_asmcgocall

	.globl	gort_asmffi
	.hidden	gort_asmffi
	.type	gort_asmffi, @function
	.p2align 4
gort_asmffi:
	.cfi_startproc
	FRAME_ENTER
	movq	%rsp, (%r9)
	movq	%r8, %rsp
	andq	$-16, %rsp
	call	ffi_call@PLT
	FRAME_LEAVE
	ret
	.cfi_endproc
	.size	gort_asmffi, .-gort_asmffi

	.section .note.GNU-stack,"",@progbits
