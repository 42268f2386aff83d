/* 32-bit ARM Thumb test guest, linked at 0x10000; same layout and mailbox
 * as guest_x86_64.S (addresses are the low 32 bits of each u64). Stores of
 * 8 and 16 bytes (strd, stm) need 4-byte alignment. spin counts in r1. */
	.syntax unified
	.thumb
	.text
	.globl _start
	.thumb_func
_start:
cmd:
	ldr r6, =0x80000
	ldr r5, [r6]
	adds r6, #8
1:	cmp r5, #0
	beq done
	ldr r0, [r6]
	ldr r1, [r6, #8]
	ldr r2, [r6, #16]
	ldr r3, [r6, #20]
	cmp r1, #1
	beq 11f
	cmp r1, #2
	beq 12f
	cmp r1, #4
	beq 14f
	cmp r1, #8
	beq 18f
	ldr r4, [r6, #24]
	ldr r7, [r6, #28]
	stm r0, {r2, r3, r4, r7}
	b 2f
11:	strb r2, [r0]
	b 2f
12:	strh r2, [r0]
	b 2f
14:	str r2, [r0]
	b 2f
18:	strd r2, r3, [r0]
2:	adds r6, #32
	subs r5, #1
	b 1b
	.ltorg

	.org 0x200
done:
	nop
	nop

	.org 0x300
	.thumb_func
smc:
	movs r2, #0
	ldr r1, =f
	movs r4, #2
	ldr r5, =ret1 + 1
	b f
ret1:	strb r4, [r1]
	ldr r5, =ret2 + 1
	b f
ret2:	b done
	.ltorg

	.org 0x380
f:	movs r0, #1
	adds r2, r2, r0
	bx r5

	.org 0x400
	.thumb_func
spin:
	ldr r6, =0x80000
	ldr r8, [r6]
	movs r9, #0
3:	add r10, r6, #8
	ldr r0, [r10, r9, lsl #3]
	ubfx r2, r1, #0, #9
	str r1, [r0, r2, lsl #3]
	adds r9, #1
	cmp r9, r8
	blo 4f
	movs r9, #0
4:	subs r1, #1
	bne 3b
	b done
	.ltorg
