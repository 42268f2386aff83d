/* The heap sanitizer (heap = sanitize) on the test guest: each of the five
 * error kinds, with the PCs of the access and of the allocation and free
 * sites; benign inputs stay ok; every run starts from the same heap. */
#include "../common.h"

#include "guest.h"

static msf_target *heap_target(const char *arch)
{
	return open_guest(arch, "entry", "t_heap", "heap", "sanitize", NULL);
}

/* The function containing guest address pc. */
static const char *func_of(msf_target *t, uint64_t pc)
{
	const msf_symbol *s = msf_elf_symbolize(msf_target_elf(t), pc);
	return s ? s->name : "?";
}

static void five_kinds(const char *arch)
{
	msf_target *t = heap_target(arch);
	msf_result r;
	/* One byte past a 7-byte chunk: byte-exact, write and read. */
	r = run_input(t, "o\x07", 2);
	assert_kind(r, MSF_KIND_HEAP_OVERFLOW);
	cr_assert_str_eq(func_of(t, r.pc), "t_heap");
	cr_assert(strstr(r.detail, "write of 1 byte at"), "%s", r.detail);
	cr_assert(strstr(r.detail, "0 bytes after the 7-byte chunk"), "%s", r.detail);
	cr_assert(strstr(r.detail, "allocated at 0x") && strstr(r.detail, "<t_heap+"), "%s",
		  r.detail);
	assert_kind(run_input(t, "O\x07", 2), MSF_KIND_HEAP_OVERFLOW);
	/* With a size that is a multiple of 8 too. */
	assert_kind(run_input(t, "O\x08", 2), MSF_KIND_HEAP_OVERFLOW);
	/* An access within bounds of odd sizes is not flagged. */
	assert_kind(run_input(t, "r\x05", 2), MSF_KIND_OK);
	r = run_input(t, "u\x01", 2);
	assert_kind(r, MSF_KIND_HEAP_UNDERFLOW);
	cr_assert(strstr(r.detail, "1 bytes before the 16-byte chunk"), "%s", r.detail);
	r = run_input(t, "f\x03", 2);
	assert_kind(r, MSF_KIND_USE_AFTER_FREE);
	cr_assert(strstr(r.detail, "3 bytes into the 32-byte chunk"), "%s", r.detail);
	cr_assert(strstr(r.detail, "freed at 0x"), "%s", r.detail);
	r = run_input(t, "d\x00", 2);
	assert_kind(r, MSF_KIND_DOUBLE_FREE);
	cr_assert_str_eq(func_of(t, r.pc), "t_heap");
	cr_assert(strstr(r.detail, "was allocated at") && strstr(r.detail, "and freed at"), "%s",
		  r.detail);
	r = run_input(t, "i\x02", 2);
	assert_kind(r, MSF_KIND_INVALID_FREE);
	cr_assert(strstr(r.detail, "not an address that malloc returned"), "%s", r.detail);
	for (int k = MSF_KIND_HEAP_OVERFLOW; k <= MSF_KIND_INVALID_FREE; k++)
		cr_assert(msf_kind_is_crash((msf_kind)k));
	msf_target_free(t);
}

Test(heap, x86_64_reports_the_five_kinds)
{
	five_kinds(X86);
}

Test(heap, thumb_reports_the_five_kinds)
{
	five_kinds(THUMB);
}

Test(heap, newlib_reentrant_functions_skip_the_reent_argument)
{
	const char *arch[2] = {X86, THUMB};
	for (int i = 0; i < 2; i++) {
		/* Only the _r functions: the argument after reent is the size. */
		msf_target *t =
		    open_guest(arch[i], "entry", "t_heap", "heap", "sanitize", "heap_malloc",
			       "no_malloc", "heap_free", "no_free", NULL);
		msf_result r = run_input(t, "R\x05", 2);
		assert_kind(r, MSF_KIND_DOUBLE_FREE);
		cr_assert(strstr(r.detail, "the 5-byte chunk"), "%s", r.detail);
		msf_target_free(t);
	}
}

Test(heap, without_the_sanitizer_the_bugs_go_unnoticed)
{
	msf_target *t = open_guest(X86, "entry", "t_heap", NULL);
	assert_kind(run_input(t, "o\x07", 2), MSF_KIND_OK);
	assert_kind(run_input(t, "f\x03", 2), MSF_KIND_OK);
	assert_kind(run_input(t, "d\x00", 2), MSF_KIND_OK);
	msf_target_free(t);
}

static void same_heap(const char *key, const char *value)
{
	msf_target *t = open_guest(X86, "entry", "t_heap", "heap", "sanitize", key, value, NULL);
	char w[65] = "w";
	for (int i = 1; i < 65; i++)
		w[i] = (char)(i * 7);
	msf_result first = run_input(t, w, sizeof w);
	assert_kind(first, MSF_KIND_OK);
	for (int i = 0; i < 20; i++) {
		/* Crashes in between leave nothing behind. */
		assert_kind(run_input(t, "d\x00", 2), MSF_KIND_DOUBLE_FREE);
		assert_kind(run_input(t, "o\x10", 2), MSF_KIND_HEAP_OVERFLOW);
		msf_result r = run_input(t, w, sizeof w);
		assert_kind(r, MSF_KIND_OK);
		cr_assert_eq(r.retval, first.retval);
		cr_assert_leq(msf_target_verify(t), 0); /* -EOPNOTSUPP for memcpy */
	}
	/* The same allocation gets the same address every run. */
	msf_result a = run_input(t, "o\x07", 2), b = run_input(t, "o\x07", 2);
	cr_assert_str_eq(a.detail, b.detail);
	msf_target_free(t);
}

/* Under every reset and tracking mode: the sanitizer writes guest RAM only
 * through the tracked path, which msf_target_verify checks. */
Test(heap, every_run_starts_from_the_same_heap)
{
	same_heap("tracking", "exact");
	same_heap("tracking", "hook");
	same_heap("reset", "memcpy");
}

Test(heap, a_guest_without_malloc_is_a_setup_error)
{
	char err[MSF_ERR_LEN];
	/* The demo has no allocator at all. */
	setup_error(err, sizeof err, "MEMSNAP_DEMO_X86_64", "heap", "sanitize", "heap_malloc",
		    "my_malloc", NULL);
	cr_assert(strstr(err, "has no 'my_malloc' nor _malloc_r (set heap_malloc)"), "%s", err);
	setup_error(err, sizeof err, X86, "entry", "t_heap", "heap", "sanitize", "heap_arena",
		    "0x10000 64K", NULL);
	cr_assert(strstr(err, "heap_arena: 0x10000"), "%s", err);
}
