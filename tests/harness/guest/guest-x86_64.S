/* x86-64 parts of the harness test guest (see guest.c). */
	.intel_syntax noprefix
	.text

	.globl t_reg
	.type t_reg, @function
t_reg:				/* returns rbx, set by a `reg` key */
	mov rax, rbx
	ret

	.globl t_fs
	.type t_fs, @function
t_fs:				/* the stack-protector canary of x86-64 libcs */
	mov rax, qword ptr fs:0x28
	ret

	.globl t_syscall
	.type t_syscall, @function
t_syscall:			/* getpid(); exit status 7 under syscall = exit */
	mov edi, 7
	mov eax, 39
	syscall
	ret

	.globl t_hlt
	.type t_hlt, @function
t_hlt:
	hlt
	mov eax, 5
	ret

	.globl t_bkpt
	.type t_bkpt, @function
t_bkpt:
	int3
	ret

	/* An abort routine at an odd address: the harness must hook it there. */
	.p2align 4
	nop
	.globl odd_abort
	.type odd_abort, @function
odd_abort:
	jmp odd_abort

	.globl t_odd_abort
	.type t_odd_abort, @function
t_odd_abort:
	call odd_abort
	ret

	.globl t_mmio
	.type t_mmio, @function
t_mmio:				/* sums 32-bit reads of a device register until 0 */
	xor eax, eax
	mov rcx, 0x50000000
1:	mov edx, dword ptr [rcx]
	test edx, edx
	jz 2f
	add eax, edx
	jmp 1b
2:	mov dword ptr [rcx + 4], eax	/* reports the sum to the device */
	ret

	.section .note.GNU-stack, "", @progbits
