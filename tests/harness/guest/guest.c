/*
 * Test guest for the harness's config keys, extension API and heap
 * sanitizer, built freestanding for x86-64 and Thumb with the demo's linker
 * script and exit stub. Each t_* function is an entry point selected with
 * the `entry` key; the instruction-level ones (hlt, syscall, fs:0x28, ...)
 * are in guest-x86_64.S and guest-thumb.S.
 *
 * malloc/free/calloc/realloc are a trivial bump allocator, which is what
 * `heap = sanitize` replaces: without it, the heap bugs of t_heap go
 * unnoticed.
 */
#include <stddef.h>
#include <stdint.h>

#define NOINLINE __attribute__((noipa, used))

uint8_t memsnap_demo_input[4096];

/* ---- A trivial allocator ------------------------------------------------- */

static uint8_t pool[1 << 16];
static size_t pool_used;

NOINLINE void *malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n > sizeof pool - pool_used)
		return 0;
	void *p = pool + pool_used;
	pool_used += n;
	return p;
}

NOINLINE void free(void *p)
{
	(void)p;
}

NOINLINE void *calloc(size_t a, size_t b)
{
	uint8_t *p = malloc(a * b);
	for (size_t i = 0; p && i < a * b; i++)
		p[i] = 0;
	return p;
}

NOINLINE void *realloc(void *old, size_t n)
{
	uint8_t *p = malloc(n), *o = old;
	for (size_t i = 0; p && o && i < n; i++)
		p[i] = o[i];
	return p;
}

/* newlib's reentrant entry points: the first argument is the reentrancy
 * structure, which the sanitizer must skip. */
NOINLINE void *_malloc_r(void *reent, size_t n)
{
	(void)reent;
	return malloc(n);
}

NOINLINE void _free_r(void *reent, void *p)
{
	(void)reent;
	free(p);
}

/* ---- init and stubs ------------------------------------------------------ */

volatile uint32_t init_value;

NOINLINE void guest_init(void)
{
	init_value = 1234;
}

NOINLINE long t_init(const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	return (long)init_value;
}

/* Writes to unmapped memory unless stubbed. */
NOINLINE long external_thing(void)
{
	*(volatile uint32_t *)0x100 = 1;
	return 5;
}

NOINLINE long t_stub(const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	return external_thing() + 1;
}

/* A function that ends the run as a named crash when an extension hooks
 * it; unhooked it returns the input length. */
NOINLINE long check_length(size_t n)
{
	return (long)n;
}

NOINLINE long t_hooked(const uint8_t *p, size_t n)
{
	(void)p;
	return check_length(n) * 2;
}

/* ---- The heap ------------------------------------------------------------ */

/* A linked list built from the input, walked and freed: the benign
 * workload of the heap benchmark. */
struct node {
	struct node *next;
	uint32_t len;
	uint8_t data[];
};

static long workload(const uint8_t *p, size_t n)
{
	struct node *head = 0;
	long sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		uint32_t len = (uint32_t)(p[i] % 48) + 1;
		struct node *e = malloc(sizeof *e + len);
		if (!e)
			break;
		for (uint32_t k = 0; k < len; k++)
			e->data[k] = (uint8_t)(p[i + 1] + k);
		e->len = len;
		e->next = head;
		head = e;
	}
	while (head) {
		struct node *next = head->next;
		for (uint32_t k = 0; k < head->len; k++)
			sum += head->data[k];
		free(head);
		head = next;
	}
	return sum;
}

/* p[0] picks a bug; p[1] (when present) is a size or index, so that the
 * compiler cannot see the bug. */
NOINLINE long t_heap(const uint8_t *p, size_t n)
{
	if (n < 2)
		return -1;
	volatile uint8_t *a;
	uint8_t k = p[1];
	switch (p[0]) {
	case 'o': /* one byte past a k-byte chunk (write) */
		a = malloc(k);
		a[k] = 1;
		return 0;
	case 'O': /* one byte past a k-byte chunk (read) */
		a = malloc(k);
		return a[k];
	case 'u': /* k bytes before a chunk */
		a = malloc(16);
		return a[-(long)k];
	case 'f': /* use after free */
		a = malloc(32);
		free((void *)a);
		return a[k % 32];
	case 'd': /* double free */
		a = malloc(32);
		free((void *)a);
		free((void *)a);
		return 0;
	case 'i': /* free of an address inside a chunk */
		a = malloc(32);
		free((void *)(a + 1 + k % 16));
		return 0;
	case 'r': { /* realloc keeps the bytes, calloc gives zeros */
		uint8_t *b = malloc(4);
		for (int i = 0; i < 4; i++)
			b[i] = (uint8_t)(k + i);
		b = realloc(b, 64);
		uint8_t *z = calloc(8, 8);
		long s = 0;
		for (int i = 0; i < 64; i++)
			s += z[i];
		return s + b[0] + b[1] + b[2] + b[3];
	}
	case 'w':
		return workload(p + 1, n - 1);
	case 'R': { /* newlib: one byte past a k-byte chunk, then a double free */
		static uint8_t reent[64];
		a = _malloc_r(reent, k);
		a[0] = 1;
		_free_r(reent, (void *)a);
		_free_r(reent, (void *)a);
		return 0;
	}
	}
	return -2;
}

#ifdef __x86_64__
/* ---- syscall = emulate (x86-64 Linux system calls) ---------------------- */

static long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* What each call returned, for the test to read. */
long sysemu_out[12];

/* The calls a C library makes on its hot paths, each once; then, if the
 * input says 'x', exit_group with the input's second byte. */
NOINLINE long t_sysemu(const uint8_t *p, size_t n)
{
	static const char hello[] = "hello";
	struct {
		const void *base;
		unsigned long len;
	} iov[2] = {{"ab", 2}, {"cde", 3}};
	long ts[2] = {-1, -1};
	long *o = sysemu_out;
	o[0] = sys6(1, 1, (long)hello, 5, 0, 0, 0);	   /* write(1) */
	o[1] = sys6(20, 2, (long)iov, 2, 0, 0, 0);	   /* writev(2) */
	o[2] = sys6(1, 7, (long)hello, 5, 0, 0, 0);	   /* write(7) */
	long b0 = sys6(12, 0, 0, 0, 0, 0, 0);		   /* brk(0) */
	o[3] = sys6(12, b0 + 8192, 0, 0, 0, 0, 0) - b0;	   /* brk(+8 KiB) */
	((volatile uint8_t *)b0)[8191] = 1;		   /* the break is memory */
	long m = sys6(9, 0, 8192, 3, 0x22, -1, 0);	   /* mmap(anonymous) */
	o[4] = m > 0 && ((volatile uint8_t *)m)[100] == 0; /* fresh and zeroed */
	((volatile uint8_t *)m)[100] = 1;
	o[5] = sys6(228, 1, (long)ts, 0, 0, 0, 0); /* clock_gettime */
	o[6] = ts[0];
	o[7] = ts[1];
	o[8] = sys6(39, 0, 0, 0, 0, 0, 0);     /* getpid: not emulated */
	o[9] = sys6(201, 0, 0, 0, 0, 0, 0);    /* time(NULL) */
	o[10] = sys6(11, m, 8192, 0, 0, 0, 0); /* munmap */
	if (n >= 2 && p[0] == 'x')
		sys6(231, p[1], 0, 0, 0, 0, 0); /* exit_group */
	return 1234;
}
#endif
