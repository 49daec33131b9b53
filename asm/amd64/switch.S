/*
 * switch.S - the goroutine context switch and the first frame of a
 * goroutine.
 *
 * gort_ctx_switch(void **save_sp, void *load_sp)
 *   Pushes what the SysV ABI makes callee-saved -- rbp, rbx, r12-r15, the
 *   MXCSR control bits and the x87 control word -- stores the stack
 *   pointer in *save_sp, loads load_sp and pops the same layout off the
 *   other stack (layout.h: GORT_CTX_*).  Everything else is caller-saved,
 *   so the C compiler has already spilled what it needs.
 *
 *   MXCSR and the x87 control word: the ABI makes their control bits
 *   callee-saved, so a goroutine that changed its rounding mode must get
 *   it back.  Loading MXCSR unconditionally is slow (a full serialising
 *   reload; tens of ns when the sticky status flags differ), so the
 *   switch stores both words on the way out (cheap), compares the target's
 *   saved control bits with the ones just stored, and reloads only what
 *   differs.  The target gets the current sticky status flags: the ABI
 *   does not preserve those.
 *
 *   CFI: both stacks hold the same layout at the same offsets, so one set
 *   of CFI rules describes the frame before and after the stack pointer
 *   moves; a debugger stopped anywhere in here unwinds into whichever
 *   goroutine owns the current stack.
 *
 * gort_gostart
 *   The return address of a new goroutine's first context.  r12 holds the
 *   G.  Its CFI marks the return address undefined, which ends backtraces
 *   cleanly at the bottom of every goroutine stack.
 */
#include "layout.h"

	.text

	.globl	gort_ctx_switch
	.hidden	gort_ctx_switch
	.type	gort_ctx_switch, @function
	.p2align 4
gort_ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	GORT_CTX_FPCSR(%rsp)
	fnstcw	GORT_CTX_FPCSR+4(%rsp)
	movq	GORT_CTX_FPCSR(%rsp), %r8	/* ours: MXCSR | FCW << 32 */

	movq	%rsp, (%rdi)
	movq	%rsi, %rsp

	movq	GORT_CTX_FPCSR(%rsp), %r9	/* theirs */
	xorq	%r8, %r9
	movabsq	$0x0000ffff0000ffc0, %rax	/* FCW, MXCSR control bits */
	testq	%rax, %r9
	jnz	.Lfpslow
.Lfpdone:
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	ret

	/* Control bits differ: load the target's, keep our sticky flags. */
	.cfi_adjust_cfa_offset 56
	.cfi_rel_offset %rbp, 48
	.cfi_rel_offset %rbx, 40
	.cfi_rel_offset %r12, 32
	.cfi_rel_offset %r13, 24
	.cfi_rel_offset %r14, 16
	.cfi_rel_offset %r15, 8
.Lfpslow:
	movl	GORT_CTX_FPCSR(%rsp), %eax
	andl	$0xffc0, %eax
	movl	%r8d, %ecx
	andl	$0x3f, %ecx
	orl	%ecx, %eax
	movl	%eax, -8(%rsp)
	ldmxcsr	-8(%rsp)
	fldcw	GORT_CTX_FPCSR+4(%rsp)
	jmp	.Lfpdone
	.cfi_endproc
	.size	gort_ctx_switch, .-gort_ctx_switch

	.globl	gort_gostart
	.hidden	gort_gostart
	.type	gort_gostart, @function
	.p2align 4
gort_gostart:
	.cfi_startproc
	.cfi_undefined %rip
	movq	%r12, %rdi
	call	gort_goroutine_main	/* does not return */
	ud2
	.cfi_endproc
	.size	gort_gostart, .-gort_gostart

	.section .note.GNU-stack,"",@progbits
