/*
 * memsnap-fuzz: the extension API of the memsnap fuzz harness.
 *
 * The harness (docs/harness.md) loads a guest ELF into Unicorn, takes its
 * start state as a memsnap checkpoint and runs every input from that state.
 * What config keys cannot say is written as an extension: one C file
 * defining an msf_extension named by MSF_EXTENSION, built as a shared
 * object and named by the `extension = PATH` key. The three programs
 * (memsnap-fuzz, memsnap-fuzz-libfuzzer, memsnap-fuzz-afl) load it with
 * dlopen, so one build of the file serves all of them and none of it is
 * instrumented for coverage (only the guest guides the fuzzer):
 *
 *   cc -shared -fPIC my_target.c -o my_target.so $(pkg-config --cflags memsnap-fuzz)
 *   memsnap-fuzz replay --config=t.conf --extension=./my_target.so crash-file
 *
 * When the callbacks run:
 *
 *   load ELF, map RAM, stubs, `reg` keys, `init` function
 *   -> setup()          map memory, set registers, run guest code, add
 *                       hooks and MMIO regions
 *   -> stack pointer, return address and PC set for the entry function,
 *      `reg` keys applied again, start state checkpointed
 *   for each input:
 *   -> restore the start state (O(pages the last input dirtied))
 *   -> place_input()    put the input where the guest reads it
 *   -> run: hooks and MMIO callbacks fire
 *   teardown()          before the target is freed
 *
 * Everything setup() changes in guest memory and registers is part of the
 * start state. Host-side state of the extension is not restored by the
 * harness: keep per-input state in guest memory, or reset it in
 * place_input().
 *
 * Conventions: every int return is 0 on success or a negative errno; a
 * guest address is a uint64_t (32-bit guests use the low half). Register
 * names are those of the config key `reg` (rax..r15, rip, eflags, fs_base,
 * gs_base; r0..r12, sp, lr, pc, cpsr). Thread-safety: a target and its
 * callbacks run on one thread; the harness runs one target per thread and
 * process. Costs are stated per call; figures are in docs/harness.md.
 */
#ifndef MEMSNAP_FUZZ_H
#define MEMSNAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MS_BUILDING_LIBRARY) && defined(__GNUC__)
#define MSF_API __attribute__((visibility("default")))
#else
#define MSF_API
#endif

typedef struct msf_target msf_target;

/* Guest permissions for msf_map (the values of Unicorn's UC_PROT_*). */
#define MSF_PROT_READ 1u
#define MSF_PROT_WRITE 2u
#define MSF_PROT_EXEC 4u

/* ---- The extension ------------------------------------------------------- */

#define MSF_EXTENSION_ABI 1u

typedef struct msf_extension {
	/* MSF_EXTENSION_ABI: the harness refuses an extension built against
	 * another version of this header. */
	unsigned abi;
	/* After loading and before the start state is taken. Return 0, or a
	 * negative errno to fail target setup (its message names the
	 * extension). May be NULL. */
	int (*setup)(msf_target *t, void *user_data);
	/* Instead of the default placement (the input copied into the `input`
	 * buffer, its address and length in input_ptr_reg/input_len_reg; see
	 * msf_place_input_default): put data[len] where the guest reads it.
	 * len is at most input_max. A negative return ends the run as a
	 * harness error. May be NULL. */
	int (*place_input)(msf_target *t, const uint8_t *data, size_t len, void *user_data);
	/* Before the target is freed. May be NULL. */
	void (*teardown)(msf_target *t, void *user_data);
	void *user_data;
} msf_extension;

/* Defines the extension of a shared object: `MSF_EXTENSION = { .abi =
 * MSF_EXTENSION_ABI, .setup = my_setup };`. The harness finds it by the
 * symbol name MSF_EXTENSION_SYMBOL. */
#define MSF_EXTENSION_SYMBOL "msf_extension_v1"
#define MSF_EXTENSION                                                                              \
	__attribute__((visibility("default"))) extern const msf_extension msf_extension_v1;        \
	__attribute__((visibility("default"))) const msf_extension msf_extension_v1

/* ---- Guest memory, symbols, registers ------------------------------------ */

/* The value of ELF symbol `name` (odd for Thumb functions). O(log symbols).
 * Errors: -ENOENT (no such symbol), -EINVAL. */
MSF_API int msf_lookup_symbol(msf_target *t, const char *name, uint64_t *addr);

/* Map zeroed guest RAM [addr, addr+size) with MSF_PROT_* perms; it becomes
 * part of the start state. Setup only. O(1). Errors: -EINVAL (not multiples
 * of 4 KiB), -EEXIST (overlaps mapped memory), -EBUSY (not in setup),
 * Unicorn errors (memsnap/uc.h). */
MSF_API int msf_map(msf_target *t, uint64_t addr, uint64_t size, uint32_t perms);

/* Copy between guest memory and buf. Writes are tracked and undone by the
 * next reset. O(len). Errors: -EFAULT (not guest RAM), -EINVAL. */
MSF_API int msf_mem_read(msf_target *t, uint64_t addr, void *buf, size_t len);
MSF_API int msf_mem_write(msf_target *t, uint64_t addr, const void *buf, size_t len);

/* Read or write a register by name. O(registers). Errors: -ENOENT (no
 * such register on this architecture), Unicorn errors. */
MSF_API int msf_reg_read(msf_target *t, const char *name, uint64_t *value);
MSF_API int msf_reg_write(msf_target *t, const char *name, uint64_t value);

/* The integer argument `i` (0-based) of the function being entered, by the
 * calling convention (x86-64 SysV: rdi, rsi, rdx, rcx, r8, r9; AAPCS: r0-r3),
 * or 0 past the register arguments. Meant for hooks at a function's first
 * instruction. O(1). */
MSF_API uint64_t msf_arg(msf_target *t, int i);

/* Call guest function `func` on the configured stack and run it until it
 * returns to the first exit address or spends `budget` instructions (0: the
 * `budget` key). Setup only (the `init` key uses it). Memory and registers
 * keep what the function did; *retval (may be NULL) gets its return value.
 * O(instructions run). Errors: -EBUSY (not in setup), -ETIMEDOUT (budget
 * spent), -EFAULT (the guest crashed; the setup error says how). */
MSF_API int msf_call(msf_target *t, uint64_t func, uint64_t budget, uint64_t *retval);

/* ---- Hooks at addresses -------------------------------------------------- */

/* Called before the guest executes the instruction at `pc`. Inside it, the
 * hook may call msf_return, msf_skip or msf_crash; if it calls none, the
 * instruction runs normally. */
typedef void (*msf_hook_fn)(msf_target *t, uint64_t pc, void *user_data);

/* Call fn whenever the guest reaches `addr` (bit 0 is dropped on Thumb,
 * where it marks the mode). Setup only. Cost: at a function symbol's first
 * instruction, a Unicorn block hook, which costs one callback when the
 * function is entered and nothing otherwise; anywhere else, a code hook,
 * which also adds a bounds check to every guest instruction (Unicorn
 * 2.0.1; docs/harness.md). Errors: -EBUSY (not in setup), -ENOMEM, Unicorn
 * errors. */
MSF_API int msf_hook_add(msf_target *t, uint64_t addr, msf_hook_fn fn, void *user_data);

/* In a hook at a function's first instruction: return to the caller now
 * with `value` in the return register (rax / r0), popping the return
 * address (x86-64) or branching to lr (ARM). Errors: -EINVAL (not inside a
 * hook), -EFAULT (the return address cannot be read). */
MSF_API int msf_return(msf_target *t, uint64_t value);

/* In a hook: skip the hooked instruction and continue with the next one.
 * Errors: -EINVAL (not inside a hook). */
MSF_API int msf_skip(msf_target *t);

/* In a hook or an MMIO callback: end the run now as a crash of kind `kind`
 * (letters, digits and '-', at most 31 characters; a process knows at most
 * 16 such names). The report and the saved file use that name; the PC is
 * the hooked instruction (the accessing one for MMIO). During msf_call in
 * setup it makes the call fail with -EFAULT. O(names). Errors: -EINVAL
 * (bad name, or neither in a run nor in setup), -ENOSPC (too many names). */
MSF_API int msf_crash(msf_target *t, const char *kind);

/* ---- Memory-mapped I/O --------------------------------------------------- */

/* A guest read of `size` bytes at `offset` into the region; returns the
 * value read. */
typedef uint64_t (*msf_mmio_read_fn)(msf_target *t, uint64_t offset, unsigned size,
				     void *user_data);
/* A guest write of `size` bytes of `value` at `offset` into the region. */
typedef void (*msf_mmio_write_fn)(msf_target *t, uint64_t offset, unsigned size, uint64_t value,
				  void *user_data);

/* Map [addr, addr+size) as device memory: guest reads call `read` (NULL:
 * reads give 0) and writes call `write` (NULL: writes are ignored). The
 * region holds no memory, so nothing in it is part of the start state.
 * addr and size multiples of 4 KiB. Setup only. Each access costs one
 * callback. Errors: -EINVAL, -EBUSY (not in setup), -ENOMEM, Unicorn errors
 * (overlap). */
MSF_API int msf_mmio_add(msf_target *t, uint64_t addr, uint64_t size, msf_mmio_read_fn read,
			 msf_mmio_write_fn write, void *user_data);

/* ---- The input ----------------------------------------------------------- */

/* Copy the next up to n unread bytes of the current input into buf and
 * return how many were copied (0 once it is used up, or outside a run).
 * MMIO reads fed from the input use this. Each run starts at the first
 * byte; bytes that place_input took with msf_input_take are not returned
 * again. O(n). */
MSF_API size_t msf_input_take(msf_target *t, void *buf, size_t n);

/* The default placement: data[len] copied into the `input` buffer and its
 * address and length written to input_ptr_reg and input_len_reg. For a
 * place_input that adds to it. O(len). Errors: -ENOENT (the target has no
 * input buffer), -EFAULT. */
MSF_API int msf_place_input_default(msf_target *t, const uint8_t *data, size_t len);

/* The Unicorn engine (a uc_engine *), for what this API does not cover.
 * Guest RAM written through Unicorn directly is tracked with the default
 * tracking only (docs/harness.md). */
MSF_API struct uc_struct *msf_engine(msf_target *t);

#ifdef __cplusplus
}
#endif

#endif /* MEMSNAP_FUZZ_H */
