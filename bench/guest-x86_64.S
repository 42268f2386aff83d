/*
 * The fuzz benchmark's guest: x86-64 code that Unicorn runs once per
 * iteration. It is assembled into the benchmark's read-only data (never
 * executed by the host) and copied into guest memory.
 *
 * Inputs: rdi = guest RAM base, rsi = guest address of a table of D byte
 * offsets (one per page to dirty, 8 bytes each), rdx = D, rcx = C (rounds of
 * the arithmetic loop), r9 = 1.
 *
 * Executes 6 + 5*D + 4*C instructions (the padding nop included; the nop
 * at msb_guest_exit is the `until` address and never runs): D 8-byte
 * stores, one to each table page, then C rounds of multiply-add.
 */
	.section .rodata
	.globl msb_guest_code
	.globl msb_guest_exit
	.globl msb_guest_end
msb_guest_code:
	xor	%eax, %eax		/* i = 0 */
	test	%rdx, %rdx
	jz	2f
1:	mov	(%rsi,%rax,8), %r8	/* offset of the i-th page */
	mov	%rax, (%rdi,%r8)	/* one 8-byte store into it */
	inc	%rax
	cmp	%rdx, %rax
	jb	1b
2:	test	%rcx, %rcx
	jz	4f
3:	imul	$0x5851f42d, %r9, %r9	/* arithmetic padding */
	add	%r9, %r10
	dec	%rcx
	jnz	3b
	/* Exit padding: Unicorn discards the translation block that holds
	 * `until - 1` after every run; keeping it a lone nop makes that
	 * retranslation trivial. */
4:	nop
msb_guest_exit:
	nop
msb_guest_end:

	.section .note.GNU-stack, "", @progbits
