/* Opening the harness test guest (guest/guest.c) with config keys, for
 * test_keys.c, test_api.c and test_heap.c. */
#ifndef MEMSNAP_TESTS_HARNESS_GUEST_H
#define MEMSNAP_TESTS_HARNESS_GUEST_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define X86 "MEMSNAP_TEST_GUEST_X86_64"
#define THUMB "MEMSNAP_TEST_GUEST_THUMB"

/* A config for the guest of `arch_env` with `key, value` pairs (NULL
 * ends them). The config is leaked on purpose: a target borrows it. */
static inline msf_config *guest_config(const char *arch_env, va_list ap)
{
	const char *elf = getenv(arch_env);
	if (!elf)
		cr_skip_test("%s: test guest not built", arch_env);
	msf_config *c = calloc(1, sizeof *c);
	char err[MSF_ERR_LEN] = "";
	msf_config_init(c);
	cr_assert_eq(msf_config_set(c, "elf", elf, 0, err, sizeof err), 0, "%s", err);
	for (const char *k; (k = va_arg(ap, const char *));) {
		const char *v = va_arg(ap, const char *);
		cr_assert_eq(msf_config_set(c, k, v, 1, err, sizeof err), 0, "%s = %s: %s", k, v,
			     err);
	}
	return c;
}

/* Build a target, or fail the test with the setup error. */
static inline msf_target *open_guest_ext(const char *arch_env, const msf_extension *ext, ...)
{
	va_list ap;
	va_start(ap, ext);
	msf_config *c = guest_config(arch_env, ap);
	va_end(ap);
	char err[MSF_ERR_LEN] = "";
	msf_target *t = NULL;
	cr_assert_eq(msf_target_new_ext(c, ext, &t, err, sizeof err), 0, "%s", err);
	return t;
}
#define open_guest(arch, ...) open_guest_ext(arch, NULL, __VA_ARGS__)

/* The setup error of a target that must not build. */
static inline void setup_error(char *err, size_t cap, const char *arch_env, ...)
{
	va_list ap;
	va_start(ap, arch_env);
	msf_config *c = guest_config(arch_env, ap);
	va_end(ap);
	msf_target *t = NULL;
	err[0] = 0;
	cr_assert_neq(msf_target_new(c, &t, err, cap), 0, "the target was built");
	cr_assert_null(t);
}

/* Run `data` and return the result. */
static inline msf_result run_input(msf_target *t, const char *data, size_t len)
{
	msf_result r;
	cr_assert_eq(msf_target_run(t, (const uint8_t *)data, len, &r), 0);
	return r;
}

#define assert_kind(r, k)                                                                          \
	cr_assert_eq((r).kind, (k), "got %s (%s), want %s", msf_kind_name((r).kind), (r).detail,   \
		     msf_kind_name(k))

#endif
