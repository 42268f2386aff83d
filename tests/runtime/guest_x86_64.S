/* x86-64 test guest, linked at 0x10000 (tests/runtime/guest.h has the map).
 *
 * 0x000 cmd:  runs the store commands of the mailbox at 0x80000: u64 count,
 *             then count entries {u64 address, u64 size, u64 value[2]}; size
 *             1, 2, 4, 8 or 16 bytes, at any alignment.
 * 0x200 done: the stop address of every entry point.
 * 0x300 smc:  calls f (0x380) twice, rewriting the immediate operand of its
 *             first instruction in between; edx = sum of both results
 *             (1 + 2 = 3). A stale translation of f would give 2 + 2.
 * 0x400 spin: rcx iterations of an 8-instruction loop, each storing 8 bytes
 *             into the next of the pages listed in the mailbox (u64 n, then
 *             n u64 page addresses).
 */
	.intel_syntax noprefix
	.text
	.globl _start
_start:
cmd:
	mov rsi, 0x80000
	mov rcx, [rsi]
	add rsi, 8
1:	test rcx, rcx
	jz done
	mov rdi, [rsi]
	mov rax, [rsi + 8]
	mov rdx, [rsi + 16]
	cmp rax, 1
	je 11f
	cmp rax, 2
	je 12f
	cmp rax, 4
	je 14f
	cmp rax, 8
	je 18f
	movups xmm0, [rsi + 16]
	movups [rdi], xmm0
	jmp 2f
11:	mov [rdi], dl
	jmp 2f
12:	mov [rdi], dx
	jmp 2f
14:	mov [rdi], edx
	jmp 2f
18:	mov [rdi], rdx
2:	add rsi, 32
	dec rcx
	jmp 1b

	.org 0x200
done:
	nop
	nop

	.org 0x300
smc:
	xor edx, edx
	mov rbx, offset ret1
	jmp f
ret1:	mov byte ptr [f + 1], 2
	mov rbx, offset ret2
	jmp f
ret2:	jmp done

	.org 0x380
f:	mov eax, 1
	add edx, eax
	jmp rbx

	.org 0x400
spin:
	mov rsi, 0x80000
	mov r8, [rsi]
	xor r9, r9
3:	mov rdi, [rsi + 8 + r9 * 8]
	mov eax, ecx
	and eax, 511
	mov [rdi + rax * 8], rcx
	inc r9
	cmp r9, r8
	jb 4f
	xor r9, r9
4:	dec rcx
	jnz 3b
	jmp done
