/*
 * memsnap demo guest, Thumb: the exit stub. The harness sets lr to this
 * address | 1 before calling memsnap_demo_parse() and stops emulation when
 * execution reaches it (uc_emu_start's `until`, without the Thumb bit). The
 * linker script places it first in .text, at 0x10000. If it ever runs, wfi
 * ends emulation (Unicorn stops on it as on a halt).
 */
	.syntax unified
	.thumb
	.section .text.memsnap_demo_exit, "ax", %progbits
	.globl memsnap_demo_exit
	.type memsnap_demo_exit, %function
	.thumb_func
memsnap_demo_exit:
	wfi
	nop
	nop
	nop
	b memsnap_demo_exit
	.size memsnap_demo_exit, . - memsnap_demo_exit
