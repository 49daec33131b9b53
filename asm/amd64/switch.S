/*
 * switch.S - the goroutine context switch, gort_yield, and the first frame
 * of a goroutine.
 *
 * A switched-out goroutine's context is on its own stack (layout.h,
 * GORT_CTX_*): MXCSR and the x87 control word, r15..r12, rbx, rbp, and the
 * address to resume at.  Everything else is caller-saved under the SysV
 * ABI, so the C compiler has already spilled what it needs.
 *
 * gort_ctx_switch(void **save_sp, void *load_sp)
 *   Saves the context, stores the stack pointer in *save_sp and resumes
 *   the context at load_sp.
 *
 * gort_yield(void)
 *   The public yield, written here so that a yield is one switch with no
 *   C frame around it: it saves the context, asks gort_yield_prepare (C)
 *   for the next goroutine's context, and resumes it.
 *
 * Both resume through the same tail, which calls gort_switch_in (C) on
 * the new stack before it restores the registers.  That is where the
 * resumed side finishes the switch: restores its errno and deals with the
 * goroutine that just left the CPU (queue it, release its stack, ...),
 * which is only safe once nothing runs on that goroutine's stack any
 * more.  Every resumption, whoever suspended the goroutine, passes here.
 *
 * Returning.  A `ret` is predicted by the return stack buffer (RSB), which
 * holds the call chain of the goroutine that switched *out*; it predicts
 * right for as many frames as the two goroutines' chains agree.  Switches
 * made from C inside the runtime come through the same few paths on both
 * sides (a channel receive parks the same way in every goroutine), so
 * `ret` keeps the RSB balanced and mispredicts about once per switch.
 * gort_yield is called straight from user code, whose call sites always
 * differ: there the tail leaves with `pop; jmp *reg`, predicted from
 * branch history, which learns the alternation (measured: yield 19 -> 7
 * ns).  The price is one RSB entry left unconsumed per yield, which costs
 * a mispredict at a later `ret` instead of at this one.
 *
 * MXCSR and the x87 control word: the ABI makes their control bits
 * callee-saved, so a goroutine that changed its rounding mode must get it
 * back.  Loading MXCSR unconditionally is slow (a serialising reload, tens
 * of ns when the sticky status flags differ), so the tail compares the
 * target's saved control bits with the ones just saved and reloads only
 * on a difference; the target keeps the current sticky flags (the ABI
 * does not preserve those).  The saved words are read back with loads of
 * the size they were stored with, so store forwarding works (one 8-byte
 * load over both cost ~4 ns a switch).
 *
 * CFI: every context has the same layout at the same offsets, so one set
 * of CFI rules describes the frame before and after the stack pointer
 * moves; a debugger stopped anywhere here unwinds into whichever goroutine
 * owns the current stack.
 *
 * gort_spawn_switch(void **save_sp, gort_g *g)
 *   gort_go's switch to the goroutine it just made: saves the context like
 *   gort_ctx_switch, gives the FP control words their reset values, and
 *   jumps onto g's bare stack into gort_gostart, which calls
 *   gort_switch_in itself and then the goroutine.  No first context is
 *   laid out on the new stack, and none is restored.
 *
 * gort_gostart
 *   The bottom frame of every goroutine.  A queued new goroutine's first
 *   context resumes at gort_gostart_pc (r12 = the G); gort_spawn_switch
 *   enters at gort_gostart_spawn.  Either way it calls
 *   gort_goroutine_main, which runs the goroutine and, once it has
 *   returned, hands the M over and returns the next context; gort_gostart
 *   resumes that through the switch tail, with no context saved.  Why
 *   return instead of switching from inside goexit: a child that returns
 *   at once then resumes its parent through matched calls and returns
 *   (gort_go -> gort_spawn_switch, whose tail `ret` comes back to
 *   gort_go), so the return stack buffer predicts every return of a spawn
 *   (measured: spawn 66 -> 35 ns at P=1).  The CFI marks the return
 *   address undefined, which ends backtraces cleanly at the bottom of
 *   every goroutine stack.  The nop in front of gort_gostart_pc is there
 *   for unwinders, which look up the caller's frame at "return address -
 *   1": that byte must lie inside this FDE.
 */
#include "config.h"
#include "layout.h"

/* Push the callee-saved state; leaves %rsp at the context (16-aligned). */
.macro SAVE_CTX
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
.endm

.macro RESTORE_REGS
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
.endm

/* Under TSan: switch to the fiber of the G now in tls g (the one just
 * handed the M), keeping %rax (the next context); clobbers r12 and the
 * caller-saved registers.  The switch is announced from here and not
 * from C: see sanitizer.h.  Nothing in other builds. */
.macro TSAN_TO_TLS_G_FIBER
#ifdef GORT_TSAN
	movq	%rax, %r12
	movq	gort_tls_g@gottpoff(%rip), %rax
	movq	%fs:(%rax), %rax
	movq	GORT_G_TSAN_FIBER(%rax), %rdi
	xorl	%esi, %esi
	call	__tsan_switch_to_fiber@PLT
	movq	%r12, %rax
#endif
.endm

/* CFI state of a saved context, for code reached by a jump. */
.macro CTX_CFI
	.cfi_def_cfa %rsp, GORT_CTX_SIZE
	.cfi_offset %rbp, -16
	.cfi_offset %rbx, -24
	.cfi_offset %r12, -32
	.cfi_offset %r13, -40
	.cfi_offset %r14, -48
	.cfi_offset %r15, -56
.endm

	.text

	.globl	gort_ctx_switch
	.hidden	gort_ctx_switch
	.type	gort_ctx_switch, @function
	.p2align 4
gort_ctx_switch:
	.cfi_startproc
	SAVE_CTX
	movq	%rsp, (%rdi)
	movq	%rsp, %rbx		/* our context, for the FP compare */
	movq	%rsi, %rsp
	jmp	gort_switch_tail_ret
	.cfi_endproc
	.size	gort_ctx_switch, .-gort_ctx_switch

	.globl	gort_yield
	.type	gort_yield, @function
	.p2align 4
gort_yield:
	.cfi_startproc
	SAVE_CTX
	movq	%rsp, %rbx
	movq	%rsp, %rdi
	call	gort_yield_prepare	/* next context, or NULL: keep running */
	testq	%rax, %rax
	jz	.Lstay
	/* TSan moves to the fiber of the G just handed the M here, not in
	 * C (r12 is saved in our context). */
	TSAN_TO_TLS_G_FIBER
	movq	%rax, %rsp
	jmp	gort_switch_tail_jmp
.Lstay:
	RESTORE_REGS
	ret
	.cfi_endproc
	.size	gort_yield, .-gort_yield

/* On the resumed goroutine's stack, %rsp at its context; %rbx at the
 * context just saved.  Two copies that differ only in how they leave:
 * `ret` for switches made from C (gort_ctx_switch), `pop; jmp` for
 * gort_yield -- see the comment at the top. */
.macro SWITCH_TAIL name, leave
	.type	\name, @function
	.p2align 4
\name:
	.cfi_startproc
	CTX_CFI
	movl	GORT_CTX_FPCSR(%rsp), %eax
	xorl	GORT_CTX_FPCSR(%rbx), %eax
	testl	$0xffc0, %eax		/* MXCSR control bits */
	jnz	1f
	movzwl	GORT_CTX_FPCSR+4(%rsp), %eax
	cmpw	GORT_CTX_FPCSR+4(%rbx), %ax	/* x87 control word */
	jne	1f
2:
	call	gort_switch_in
	RESTORE_REGS
.ifc \leave,jmp
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rcx
	jmp	*%rcx
.else
	ret
.endif

	/* Control bits differ: load the target's, keep the sticky flags. */
	CTX_CFI
1:
	movl	GORT_CTX_FPCSR(%rsp), %eax
	andl	$0xffc0, %eax
	movl	GORT_CTX_FPCSR(%rbx), %ecx
	andl	$0x3f, %ecx
	orl	%ecx, %eax
	movl	%eax, -8(%rsp)
	ldmxcsr	-8(%rsp)
	fldcw	GORT_CTX_FPCSR+4(%rsp)
	jmp	2b
	.cfi_endproc
	.size	\name, .-\name
.endm

	SWITCH_TAIL gort_switch_tail_ret, ret
	SWITCH_TAIL gort_switch_tail_jmp, jmp

	.globl	gort_spawn_switch
	.hidden	gort_spawn_switch
	.type	gort_spawn_switch, @function
	.p2align 4
gort_spawn_switch:
	.cfi_startproc
	SAVE_CTX
	movq	%rsp, (%rdi)
	/* A new goroutine starts with the reset FP control state. */
	movl	GORT_CTX_FPCSR(%rsp), %eax
	andl	$0xffc0, %eax
	cmpl	$(GORT_MXCSR_INIT & 0xffc0), %eax
	jne	1f
	cmpw	$GORT_FPUCW_INIT, GORT_CTX_FPCSR+4(%rsp)
	jne	1f
2:
	movq	GORT_G_STACK_HI(%rsi), %rax
	andq	$-16, %rax
	movq	%rsi, %r12
	xorl	%ebp, %ebp		/* ends frame-pointer walks */
	movq	$0, -8(%rax)
	movq	$0, -16(%rax)
	leaq	-16(%rax), %rsp
	jmp	gort_gostart_spawn
1:
	/* Load the reset control bits, keep the current sticky flags. */
	movl	GORT_CTX_FPCSR(%rsp), %eax
	andl	$0x3f, %eax
	orl	$GORT_MXCSR_INIT, %eax
	movl	%eax, -8(%rsp)
	ldmxcsr	-8(%rsp)
	movw	$GORT_FPUCW_INIT, -4(%rsp)
	fldcw	-4(%rsp)
	jmp	2b
	.cfi_endproc
	.size	gort_spawn_switch, .-gort_spawn_switch

	.globl	gort_gostart
	.hidden	gort_gostart
	.type	gort_gostart, @function
	.p2align 4
gort_gostart:
	.cfi_startproc
	.cfi_undefined %rip
	nop
	.globl	gort_gostart_pc
	.hidden	gort_gostart_pc
gort_gostart_pc:
	movq	%r12, %rdi
	call	gort_goroutine_main
	jmp	3f

	/* From gort_spawn_switch: r12 = the G, on its bare stack.  The switch
	 * tail did not run, so its half of the switch is done here. */
	.globl	gort_gostart_spawn
	.hidden	gort_gostart_spawn
gort_gostart_spawn:
	call	gort_switch_in
	movq	%r12, %rdi
	call	gort_goroutine_main

	/* The goroutine has exited and %rax is the next context.  The tail
	 * compares that context's FP control with ours, so ours is stored
	 * (below the stack pointer, in the red zone) where %rbx points. */
3:
	/* TSan moves to the next G's fiber now that every function of the
	 * dead goroutine has returned. */
	TSAN_TO_TLS_G_FIBER
	leaq	-GORT_CTX_SIZE(%rsp), %rbx
	stmxcsr	GORT_CTX_FPCSR(%rbx)
	fnstcw	GORT_CTX_FPCSR+4(%rbx)
	movq	%rax, %rsp
	jmp	gort_switch_tail_ret
	.cfi_endproc
	.size	gort_gostart, .-gort_gostart

	.section .note.GNU-stack,"",@progbits
