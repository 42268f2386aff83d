/*
 * memsnap demo guest, x86-64: the exit stub. The harness pushes this
 * address as memsnap_demo_parse()'s return address and stops emulation when
 * execution reaches it (uc_emu_start's `until`). The linker script places it
 * first in .text, at 0x10000. If it ever runs, hlt ends emulation.
 */
	.section .text.memsnap_demo_exit, "ax", @progbits
	.globl memsnap_demo_exit
	.type memsnap_demo_exit, @function
memsnap_demo_exit:
	hlt
	nop
	nop
	nop
	jmp memsnap_demo_exit
	.size memsnap_demo_exit, . - memsnap_demo_exit

	.section .note.GNU-stack, "", @progbits
