/*
 * frame.h - the frame-pointer frame the amd64 entry points share.
 *
 * Each keeps %rbp as its CFA register from the prologue on, so an
 * unwinder (gdb, a crash traceback) stopped anywhere below -- in C code
 * on another stack included -- walks back through it.
 */
#ifndef GORT_ASM_FRAME_H
#define GORT_ASM_FRAME_H

/* push %rbp; %rbp = %rsp; the CFA follows %rbp from here on. */
.macro FRAME_ENTER
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset %rbp, -16
	movq	%rsp, %rbp
	.cfi_def_cfa_register %rbp
.endm

/* Back to the caller's stack pointer, whatever the body did to %rsp. */
.macro FRAME_LEAVE
	movq	%rbp, %rsp
	popq	%rbp
	.cfi_def_cfa %rsp, 8
.endm

#endif
