/* The extension API (memsnap/fuzz.h) on the test guest: setup, place_input,
 * hooks that return, skip or crash, MMIO regions fed from the input, and
 * the errors of calls made at the wrong time. */
#include "../common.h"

#include <errno.h>

#include "guest.h"

/* ---- setup and place_input ---------------------------------------------- */

static int setup_calls(msf_target *t, void *user_data)
{
	int *calls = user_data;
	++*calls;
	/* Guest code run from setup is part of the start state. */
	uint64_t init, ret = 99;
	cr_assert_eq(msf_lookup_symbol(t, "guest_init", &init), 0);
	cr_assert_eq(msf_call(t, init, 0, &ret), 0);
	/* Memory mapped here is part of it too. */
	cr_assert_eq(msf_map(t, 0x60000000, 0x1000, MSF_PROT_READ | MSF_PROT_WRITE), 0);
	cr_assert_eq(msf_map(t, 0x60000000, 0x1000, MSF_PROT_READ), -EEXIST);
	cr_assert_eq(msf_map(t, 0x60000001, 0x1000, MSF_PROT_READ), -EINVAL);
	cr_assert_eq(msf_mem_write(t, 0x60000000, "seed", 4), 0);
	cr_assert_eq(msf_lookup_symbol(t, "no_such_symbol", &init), -ENOENT);
	cr_assert_eq(msf_reg_write(t, "no_such_reg", 1), -ENOENT);
	return 0;
}

/* The input goes into rbx for t_reg, not into the buffer. */
static int place_in_rbx(msf_target *t, const uint8_t *data, size_t len, void *user_data)
{
	(void)user_data;
	uint64_t v = 0;
	memcpy(&v, data, len < 8 ? len : 8);
	cr_assert_eq(msf_return(t, 1), -EINVAL); /* not in a hook */
	return msf_reg_write(t, "rbx", v);
}

Test(api, setup_runs_once_and_its_changes_are_the_start_state)
{
	int calls = 0;
	msf_extension ext = {.abi = MSF_EXTENSION_ABI, .setup = setup_calls, .user_data = &calls};
	msf_target *t = open_guest_ext(X86, &ext, "entry", "t_init", NULL);
	cr_assert_eq(calls, 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(run_input(t, "", 0).retval, 1234);
	char buf[4];
	cr_assert_eq(msf_mem_read(t, 0x60000000, buf, 4), 0);
	cr_assert(!memcmp(buf, "seed", 4));
	/* Setup-only calls refuse to run later. */
	cr_assert_eq(msf_map(t, 0x61000000, 0x1000, MSF_PROT_READ), -EBUSY);
	cr_assert_eq(msf_call(t, 0x10000, 0, NULL), -EBUSY);
	msf_target_free(t);
}

Test(api, place_input_replaces_the_default_placement)
{
	msf_extension ext = {.abi = MSF_EXTENSION_ABI, .place_input = place_in_rbx};
	msf_target *t = open_guest_ext(X86, &ext, "entry", "t_reg", NULL);
	cr_assert_eq(run_input(t, "\x2a\x01", 2).retval, 0x12a);
	cr_assert_eq(run_input(t, "\x07", 1).retval, 7);
	msf_target_free(t);
}

Test(api, an_extension_of_another_abi_is_refused)
{
	msf_extension ext = {.abi = 99};
	va_list none;
	(void)none;
	const char *elf = getenv(X86);
	if (!elf)
		cr_skip_test("guest not built");
	msf_config c;
	char err[MSF_ERR_LEN];
	msf_config_init(&c);
	msf_config_set(&c, "elf", elf, 0, err, sizeof err);
	msf_target *t = NULL;
	cr_assert_neq(msf_target_new_ext(&c, &ext, &t, err, sizeof err), 0);
	cr_assert(strstr(err, "extension: ABI 99"), "%s", err);
	msf_config_free(&c);
}

Test(api, an_extension_that_cannot_be_loaded_is_a_setup_error)
{
	char err[MSF_ERR_LEN];
	setup_error(err, sizeof err, X86, "extension", "/nonexistent/ext.so", NULL);
	cr_assert(strstr(err, "extension: /nonexistent/ext.so"), "%s", err);
	/* A shared object without MSF_EXTENSION: the core library itself. */
	setup_error(err, sizeof err, X86, "extension", "libmemsnap-fuzz-core.so", NULL);
	cr_assert(strstr(err, "defines no msf_extension_v1"), "%s", err);
}

/* ---- Hooks ------------------------------------------------------------------ */

typedef struct hook_log {
	int calls;
	uint64_t arg;
	const char *action;
} hook_log;

static void on_check_length(msf_target *t, uint64_t pc, void *user_data)
{
	hook_log *log = user_data;
	(void)pc;
	log->calls++;
	log->arg = msf_arg(t, 0);
	if (!strcmp(log->action, "return"))
		cr_assert_eq(msf_return(t, 100), 0);
	else if (!strcmp(log->action, "crash"))
		cr_assert_eq(msf_crash(t, "length-check"), 0);
	else if (!strcmp(log->action, "bad-crash"))
		cr_assert_eq(msf_crash(t, "no spaces allowed"), -EINVAL);
}

static int add_hook(msf_target *t, void *user_data)
{
	uint64_t f;
	cr_assert_eq(msf_lookup_symbol(t, "check_length", &f), 0);
	return msf_hook_add(t, f, on_check_length, user_data);
}

static void hooks(const char *arch)
{
	hook_log log = {.action = "none"};
	msf_extension ext = {.abi = MSF_EXTENSION_ABI, .setup = add_hook, .user_data = &log};
	msf_target *t = open_guest_ext(arch, &ext, "entry", "t_hooked", NULL);
	/* A hook that does nothing: the function runs (length * 2). */
	msf_result r = run_input(t, "abc", 3);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 6);
	cr_assert_eq(log.calls, 1);
	cr_assert_eq(log.arg, 3);
	/* Return to the caller with a value. */
	log.action = "return";
	r = run_input(t, "abc", 3);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 200);
	/* A crash of a named kind, at the hooked instruction. */
	log.action = "crash";
	r = run_input(t, "abcd", 4);
	cr_assert_str_eq(msf_kind_name(r.kind), "length-check");
	cr_assert(msf_kind_is_crash(r.kind));
	uint64_t f;
	msf_lookup_symbol(t, "check_length", &f);
	if (strcmp(arch, X86)) /* bit 0 marks Thumb; x86-64 code may start anywhere */
		f &= ~1ull;
	cr_assert_eq(r.pc, f, "pc 0x%llx, check_length at 0x%llx", (unsigned long long)r.pc,
		     (unsigned long long)f);
	log.action = "bad-crash";
	assert_kind(run_input(t, "ab", 2), MSF_KIND_OK);
	msf_target_free(t);
}

Test(api, x86_64_hooks_return_crash_or_let_the_code_run)
{
	hooks(X86);
}

Test(api, thumb_hooks_return_crash_or_let_the_code_run)
{
	hooks(THUMB);
}

/* Skipping the hlt of t_hlt lets it return 5. */
static void skip_hlt(msf_target *t, uint64_t pc, void *user_data)
{
	(void)pc;
	(void)user_data;
	cr_assert_eq(msf_skip(t), 0);
}

static int add_skip(msf_target *t, void *user_data)
{
	uint64_t f;
	msf_lookup_symbol(t, (const char *)user_data, &f);
	return msf_hook_add(t, f, skip_hlt, NULL);
}

Test(api, a_hook_can_skip_an_instruction)
{
	msf_extension ext = {.abi = MSF_EXTENSION_ABI, .setup = add_skip, .user_data = "t_hlt"};
	msf_target *t = open_guest_ext(X86, &ext, "entry", "t_hlt", NULL);
	msf_result r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 5);
	msf_target_free(t);
	ext.user_data = "t_wfi";
	t = open_guest_ext(THUMB, &ext, "entry", "t_wfi", NULL);
	r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 5);
	msf_target_free(t);
}

/* A hook in the middle of a function (not a block start): skipping the
 * syscall of t_syscall leaves getpid's number, 39, in rax. */
static int add_mid_skip(msf_target *t, void *user_data)
{
	uint64_t f;
	(void)user_data;
	msf_lookup_symbol(t, "t_syscall", &f);
	return msf_hook_add(t, f + 10, skip_hlt, NULL);
}

Test(api, a_hook_inside_a_block_fires)
{
	msf_extension ext = {.abi = MSF_EXTENSION_ABI, .setup = add_mid_skip};
	msf_target *t = open_guest_ext(X86, &ext, "entry", "t_syscall", NULL);
	msf_result r = run_input(t, "", 0);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 39);
	msf_target_free(t);
}

/* ---- MMIO ------------------------------------------------------------------ */

typedef struct device {
	uint64_t written;
	int writes;
} device;

static uint64_t dev_read(msf_target *t, uint64_t offset, unsigned size, void *user_data)
{
	(void)user_data;
	uint32_t v = 0;
	cr_assert_eq(offset, 0);
	cr_assert_eq(size, 4);
	msf_input_take(t, &v, sizeof v); /* 0 once the input is used up */
	return v;
}

static void dev_write(msf_target *t, uint64_t offset, unsigned size, uint64_t value,
		      void *user_data)
{
	device *d = user_data;
	(void)t;
	cr_assert_eq(offset, 4);
	cr_assert_eq(size, 4);
	d->written = value;
	d->writes++;
}

static int add_device(msf_target *t, void *user_data)
{
	return msf_mmio_add(t, 0x50000000, 0x1000, dev_read, dev_write, user_data);
}

static int no_placement(msf_target *t, const uint8_t *data, size_t len, void *user_data)
{
	(void)t, (void)data, (void)len, (void)user_data;
	return 0;
}

static void mmio_fed_from_the_input(const char *arch)
{
	device d = {0};
	msf_extension ext = {.abi = MSF_EXTENSION_ABI,
			     .setup = add_device,
			     .place_input = no_placement,
			     .user_data = &d};
	msf_target *t = open_guest_ext(arch, &ext, "entry", "t_mmio", NULL);
	uint32_t in[3] = {5, 7, 30};
	msf_result r = run_input(t, (const char *)in, sizeof in);
	assert_kind(r, MSF_KIND_OK);
	cr_assert_eq(r.retval, 42);
	cr_assert_eq(d.written, 42);
	cr_assert_eq(d.writes, 1);
	/* Every run reads its own input from the start. */
	r = run_input(t, (const char *)in, 4);
	cr_assert_eq(r.retval, 5);
	cr_assert_eq(d.written, 5);
	msf_target_free(t);
}

Test(api, x86_64_mmio_reads_are_fed_from_the_input)
{
	mmio_fed_from_the_input(X86);
}

Test(api, thumb_mmio_reads_are_fed_from_the_input)
{
	mmio_fed_from_the_input(THUMB);
}
