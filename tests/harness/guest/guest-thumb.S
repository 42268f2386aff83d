/* Thumb parts of the harness test guest (see guest.c). */
	.syntax unified
	.thumb
	.text

	.globl t_reg
	.type t_reg, %function
	.thumb_func
t_reg:				/* returns r5, set by a `reg` key */
	mov r0, r5
	bx lr

	.globl t_syscall
	.type t_syscall, %function
	.thumb_func
t_syscall:			/* getpid (EABI r7 = 20); status 7 under syscall = exit */
	push {r7, lr}
	movs r0, #7
	movs r7, #20
	svc 0
	pop {r7, pc}

	.globl t_wfi
	.type t_wfi, %function
	.thumb_func
t_wfi:
	wfi
	movs r0, #5
	bx lr

	.globl t_bkpt
	.type t_bkpt, %function
	.thumb_func
t_bkpt:
	bkpt #0
	bx lr

	.globl t_mmio
	.type t_mmio, %function
	.thumb_func
t_mmio:
	movs r0, #0
	ldr r1, =0x50000000
1:	ldr r2, [r1]
	cmp r2, #0
	beq 2f
	add r0, r0, r2
	b 1b
2:	str r0, [r1, #4]
	bx lr
	.ltorg
