/*
 * memsnap heap demo guest: a small command interpreter over heap objects,
 * linked with a real C library (musl on x86-64, newlib on Thumb) and run
 * under Unicorn by the fuzz harness. It carries three planted heap bugs: a
 * one-byte heap overflow, a use-after-free and a double free, each behind
 * its own command sequence. The input format and the bugs are described in
 * README.md.
 *
 * The harness copies an input into heapdemo_input[] and calls
 * heapdemo_entry() with the return address set to heapdemo_exit. Every
 * function that takes part in a bug is noinline, so that a backtrace names
 * it and the line that called it.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heapdemo.h"

#define HEAPDEMO_INPUT_SIZE 4096u
#define HEAPDEMO_BUFFERS 8u
#define HEAPDEMO_MAX_ALLOC 256u

/* Return values of heapdemo_parse(): the number of commands on success, one
 * of these on failure. */
#define ERR_SHORT (-1)
#define ERR_MAGIC (-2)
#define ERR_VERSION (-3)
#define ERR_NOMEM (-4)
#define ERR_ARG (-5)
#define ERR_STATE (-6)

/* A session journals the commands that follow its opening into a buffer of
 * its own (session_note). */
struct session {
	uint8_t *buf;
	uint32_t cap;
	uint32_t used;
};

struct store {
	char *name;
	struct session *session;
	uint8_t session_open; /* open, and not closed since */
	uint8_t *buffers[HEAPDEMO_BUFFERS];
	uint32_t sizes[HEAPDEMO_BUFFERS];
	uint8_t dropped; /* bit n: buffer n was dropped (freed) */
	uint32_t commands;
	uint32_t checksum;
};

/* The harness writes each input here; page aligned so it is one page. */
uint8_t heapdemo_input[HEAPDEMO_INPUT_SIZE] __attribute__((aligned(4096)));

/* What the last parse left behind, so that a run has observable effects. */
uint32_t heapdemo_result[4];

/* A cursor over the input. */
struct reader {
	const uint8_t *p;
	uint32_t left;
};

static int take(struct reader *r, uint8_t *out)
{
	if (!r->left)
		return 0;
	*out = *r->p++;
	r->left--;
	return 1;
}

/* N: the store's name, a copy of the payload as a C string, in a chunk
 * rounded up to a multiple of 8 bytes for the terminating NUL.
 * The bug: the rounding forgets the NUL when `len` already is a multiple of
 * 8, and the NUL goes to name[len], one byte past the end. */
__attribute__((noinline)) int name_set(struct store *s, const uint8_t *src, uint32_t len)
{
	char *name = malloc((len + 7) & ~7u);
	if (!name)
		return ERR_NOMEM;
	memcpy(name, src, len);
	name[len] = 0; /* BUG: heap overflow by one byte */
	free(s->name);
	s->name = name;
	return 0;
}

/* O: opens a session with a buffer of `cap` bytes. */
__attribute__((noinline)) int session_open(struct store *s, uint32_t cap)
{
	if (s->session || !cap)
		return ERR_STATE;
	struct session *x = calloc(1, sizeof *x);
	if (!x)
		return ERR_NOMEM;
	x->buf = malloc(cap);
	if (!x->buf) {
		free(x);
		return ERR_NOMEM;
	}
	x->cap = cap;
	s->session = x;
	s->session_open = 1;
	return 0;
}

/* C: closes the session. The bug: s->session keeps pointing at the freed
 * object unless the close is `forced` (flag byte 'F'), so the next command's
 * journal entry writes through freed memory. A second close is refused
 * without touching the session, and so is an open, so that the freed object
 * is used in one place only (session_note). */
__attribute__((noinline)) int session_close(struct store *s, uint8_t flag)
{
	struct session *x = s->session;
	if (!x || !s->session_open)
		return ERR_STATE;
	free(x->buf);
	free(x);
	s->session_open = 0;
	if (flag == 'F')
		s->session = NULL;
	return 0;
}

/* Every command is journaled into an open session's buffer: its type byte
 * and, for W, its payload; a full journal takes no more. */
__attribute__((noinline)) int session_note(struct store *s, uint8_t type, const uint8_t *src,
					   uint32_t len)
{
	struct session *x = s->session;
	uint32_t n = type == 'W' ? len : 0;
	if (x->cap - x->used < 1 + n) /* BUG: use after free when the session was closed */
		return 0;
	x->buf[x->used++] = type;
	for (uint32_t i = 0; i < n; i++)
		x->buf[x->used++] = src[i];
	return 0;
}

/* A: allocates buffer `slot` (its low three bits pick one of 8) of `size`
 * bytes, filled from the payload. */
__attribute__((noinline)) int buffer_alloc(struct store *s, uint8_t slot, const uint8_t *src,
					   uint32_t len)
{
	uint8_t n = slot & 7;
	if (s->buffers[n] || !len)
		return ERR_STATE;
	s->buffers[n] = realloc(NULL, len);
	if (!s->buffers[n])
		return ERR_NOMEM;
	memcpy(s->buffers[n], src, len);
	s->sizes[n] = len;
	return 0;
}

/* D: drops buffer `slot`: its low three bits pick the buffer, bit 3 asks to
 * keep the slot's contents for later. A buffer is dropped once. The bug:
 * with bit 3 set the slot keeps its pointer to the freed buffer, and
 * store_clear frees it again. */
__attribute__((noinline)) int buffer_drop(struct store *s, uint8_t slot)
{
	uint8_t n = slot & 7;
	if (!s->buffers[n] || (s->dropped & (1u << n)))
		return ERR_STATE;
	free(s->buffers[n]); /* FREE: buffer_drop */
	s->dropped |= (uint8_t)(1u << n);
	if (!(slot & 8))
		s->buffers[n] = NULL;
	return 0;
}

/* X: the payload is a decimal number; its value is added to the checksum.
 * Uses the C library's strtoul, errno included. */
__attribute__((noinline)) int number_add(struct store *s, const uint8_t *src, uint32_t len)
{
	char text[24];
	if (!len || len >= sizeof text)
		return ERR_ARG;
	memcpy(text, src, len);
	text[len] = 0;
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	if (errno || *end)
		return ERR_ARG;
	s->checksum += (uint32_t)v;
	return 0;
}

/* One command: a type byte, a length byte and the payload (clamped to what
 * is left of the input). */
__attribute__((noinline)) int apply_command(struct store *s, struct reader *r)
{
	uint8_t type, len;
	if (!take(r, &type) || !take(r, &len))
		return ERR_SHORT;
	if (len > r->left)
		len = (uint8_t)r->left;
	const uint8_t *payload = r->p;
	r->p += len;
	r->left -= len;
	s->commands++;
	/* The journal checks the pointer, not session_open: after a close
	 * without the F flag, every command writes through freed memory. */
	if (s->session) {
		int rc = session_note(s, type, payload, len); /* CALL: session_note */
		if (rc)
			return rc;
	}
	switch (type) {
	case 'N':
		return len ? name_set(s, payload, len) : ERR_ARG; /* CALL: name_set */
	case 'O':
		return len >= 1 ? session_open(s, payload[0]) : ERR_ARG;
	case 'C':
		return session_close(s, len ? payload[0] : 0);
	case 'W':
		return s->session ? 0 : ERR_STATE; /* journaled above */
	case 'A':
		return len >= 2 ? buffer_alloc(s, payload[0], payload + 1, len - 1u) : ERR_ARG;
	case 'D':
		return len ? buffer_drop(s, payload[0]) : ERR_ARG; /* CALL: buffer_drop */
	case 'X':
		return number_add(s, payload, len);
	default:
		return ERR_ARG;
	}
}

/* Frees what a parse left: the name and the buffers. Sessions are left
 * alone (the next input starts from a fresh heap anyway): a closed one may
 * still be referenced, and freeing it here would plant the use-after-free
 * bug a second time, at another call, which would make one bug two. */
__attribute__((noinline)) void store_clear(struct store *s)
{
	free(s->name);
	for (uint32_t i = 0; i < HEAPDEMO_BUFFERS; i++)
		free(s->buffers[i]); /* BUG: double free of a buffer dropped with bit 3 */
}

int heapdemo_parse(const uint8_t *data, uint32_t len)
{
	/* The magic is compared one byte at a time, each with its own branch, so
	 * that edge coverage rewards every correct byte. */
	if (len < 6)
		return ERR_SHORT;
	if (data[0] != 'H')
		return ERR_MAGIC;
	if (data[1] != 'e')
		return ERR_MAGIC;
	if (data[2] != 'A')
		return ERR_MAGIC;
	if (data[3] != 'p')
		return ERR_MAGIC;
	if (data[4] != 1)
		return ERR_VERSION;
	uint32_t max = data[5] ? data[5] : 1; /* commands allowed */
	struct store s;
	memset(&s, 0, sizeof s);
	struct reader r = {data + 6, len - 6};
	int rc = 0;
	while (r.left && s.commands < max && rc >= 0)
		rc = apply_command(&s, &r);
	heapdemo_result[0] = s.commands;
	heapdemo_result[1] = s.checksum;
	heapdemo_result[2] = s.name ? (uint32_t)strlen(s.name) : 0;
	store_clear(&s); /* CALL: store_clear */
	return rc < 0 ? rc : (int)s.commands;
}
