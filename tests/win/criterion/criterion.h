/*
 * A small stand-in for Criterion on Windows, where Debian has no mingw
 * build of it: the subset of Criterion's API that the portable tests use
 * (Test, TestSuite with .init/.fini/.timeout, .signal, .disabled,
 * cr_assert* and cr_expect*, cr_log_*, cr_skip_test), so that one test file
 * builds against either. Only the Windows build puts this folder on the
 * include path.
 *
 * As in Criterion, every test runs in a process of its own (runner.c starts
 * the test program again for each), so a crash fails one test, and a test
 * with `.signal = SIGSEGV` passes only if it dies of an access violation
 * that nothing handled.
 */
#ifndef MEMSNAP_TESTS_WIN_CRITERION_H
#define MEMSNAP_TESTS_WIN_CRITERION_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* What a Test() or TestSuite() may set. */
struct cr__options {
	int signal;
	int exit_code;
	bool disabled;
	double timeout; /* seconds; 0: the runner's default */
	void (*init)(void);
	void (*fini)(void);
	const char *description;
};

struct cr__test {
	const char *suite, *name;
	void (*fn)(void);
	struct cr__options opt;
	struct cr__test *next;
};

struct cr__suite {
	const char *name;
	struct cr__options opt;
	struct cr__suite *next;
};

void cr__register(struct cr__test *t);
void cr__register_suite(struct cr__suite *s);
/* A failed assertion: cr__fail_fatal ends the test, cr__fail marks it
 * failed and goes on (cr_expect). */
void cr__fail(bool fatal, const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((format(gnu_printf, 5, 6)));
void cr__fail_fatal(const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((format(gnu_printf, 4, 5), noreturn));
void cr__skip(const char *fmt, ...) __attribute__((format(gnu_printf, 1, 2)));
void cr__log(const char *level, const char *fmt, ...) __attribute__((format(gnu_printf, 2, 3)));

#define Test(suite, name, ...)                                                                     \
	static void suite##__##name(void);                                                         \
	static struct cr__test suite##__##name##__test = {                                         \
	    #suite, #name, suite##__##name, {__VA_ARGS__}, NULL};                                  \
	__attribute__((constructor)) static void suite##__##name##__reg(void)                      \
	{                                                                                          \
		cr__register(&suite##__##name##__test);                                            \
	}                                                                                          \
	static void suite##__##name(void)

#define TestSuite(suite, ...)                                                                      \
	static struct cr__suite suite##__suite = {#suite, {__VA_ARGS__}, NULL};                    \
	__attribute__((constructor)) static void suite##__suite_reg(void)                          \
	{                                                                                          \
		cr__register_suite(&suite##__suite);                                               \
	}

/* `cond` is evaluated once (it often calls the function under test). */
#define cr__check(fatal, cond, what, ...)                                                          \
	do {                                                                                       \
		bool cr__ok_ = (cond);                                                             \
		if (!cr__ok_ && (fatal))                                                           \
			cr__fail_fatal(__FILE__, __LINE__, what, " " __VA_ARGS__);                 \
		else if (!cr__ok_)                                                                 \
			cr__fail(false, __FILE__, __LINE__, what, " " __VA_ARGS__);                \
	} while (0)

#define cr_assert(c, ...) cr__check(true, c, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) cr__check(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr__check(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr__check(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr__check(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr__check(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr__check(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr__check(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(p, ...) cr__check(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr__check(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)                                                                \
	cr__check(true, strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)                                                               \
	cr__check(true, strcmp((a), (b)) != 0, #a " differs from " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...)                                                             \
	cr__check(true, memcmp((a), (b), (n)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_assert_arr_neq(a, b, n, ...)                                                            \
	cr__check(true, memcmp((a), (b), (n)) != 0, #a " differs from " #b, __VA_ARGS__)
#define cr_assert_fail(...) cr__check(true, 0, "cr_assert_fail", __VA_ARGS__)

#define cr_expect(c, ...) cr__check(false, c, #c, __VA_ARGS__)
#define cr_expect_not(c, ...) cr__check(false, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_eq(a, b, ...) cr__check(false, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) cr__check(false, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) cr__check(false, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) cr__check(false, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) cr__check(false, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) cr__check(false, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_null(p, ...) cr__check(false, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) cr__check(false, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...)                                                                \
	cr__check(false, strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_expect_arr_eq(a, b, n, ...)                                                             \
	cr__check(false, memcmp((a), (b), (n)) == 0, #a " equals " #b, __VA_ARGS__)

#define cr_skip_test(...) cr__skip(" " __VA_ARGS__)
#define cr_log_info(...) cr__log("info", __VA_ARGS__)
#define cr_log_warn(...) cr__log("warn", __VA_ARGS__)
#define cr_log_error(...) cr__log("error", __VA_ARGS__)

#endif /* MEMSNAP_TESTS_WIN_CRITERION_H */
