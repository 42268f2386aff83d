#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "os.h"

enum {
	MIN_CHUNK = 64,	    /* slots in the first chunk */
	MAX_CHUNK = 4096,   /* chunks grow with the pool up to this */
	KEEP_BACKED = 1024, /* free slots always kept backed */
};

typedef struct chunk {
	struct chunk *next;
	uint8_t *base;
	size_t bytes;
} chunk;

/* A free slot, and whether its memory is still backed (not given back). */
typedef struct free_slot {
	uint8_t *addr;
	bool backed;
} free_slot;

struct ms__pool {
	pthread_mutex_t lock;
	size_t slot;
	chunk *chunks;
	size_t total;  /* slots in all chunks */
	size_t in_use; /* slots handed out */
	/* Free slots, used as a stack: the most recently freed (backed) ones
	 * are reused first. */
	free_slot *free;
	size_t nfree, cap_free;
	size_t backed_free;
};

ms__pool *ms__pool_new(size_t slot)
{
	ms__pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->slot = slot;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

static int reserve_free(ms__pool *p, size_t need)
{
	if (need <= p->cap_free)
		return 0;
	size_t cap = p->cap_free ? p->cap_free : 64;
	while (cap < need)
		cap *= 2;
	free_slot *f = realloc(p->free, cap * sizeof *f);
	if (!f)
		return -ENOMEM;
	p->free = f;
	p->cap_free = cap;
	return 0;
}

/* Map a chunk of at least `want` slots and push its slots (unbacked: the
 * kernel backs them on first write). */
static int grow(ms__pool *p, size_t want)
{
	size_t n = p->total > MIN_CHUNK ? p->total : MIN_CHUNK;
	if (n > MAX_CHUNK)
		n = MAX_CHUNK;
	if (n < want)
		n = want;
	chunk *c = malloc(sizeof *c);
	if (!c)
		return -ENOMEM;
	int err = reserve_free(p, p->total + n);
	void *base = NULL;
	if (!err)
		err = ms__os_reserve(n * p->slot, MS_ACCESS_READ | MS_ACCESS_WRITE, &base);
	if (err) {
		free(c);
		return err;
	}
	c->base = base;
	c->bytes = n * p->slot;
	c->next = p->chunks;
	p->chunks = c;
	p->total += n;
	/* Pushed in reverse so that the slots are handed out in address
	 * order (sequential copies, fewer TLB misses). */
	for (size_t i = n; i-- > 0;)
		p->free[p->nfree++] = (free_slot){c->base + i * p->slot, false};
	return 0;
}

int ms__pool_alloc(ms__pool *p, size_t n, uint8_t **out)
{
	pthread_mutex_lock(&p->lock);
	int err = 0;
	if (p->nfree < n)
		err = grow(p, n - p->nfree);
	if (!err) {
		for (size_t i = 0; i < n; i++) {
			free_slot f = p->free[--p->nfree];
			p->backed_free -= f.backed;
			out[i] = f.addr;
		}
		p->in_use += n;
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void ms__pool_free(ms__pool *p, uint8_t *const *slots, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&p->lock);
	p->in_use -= n;
	/* The free array always has room: it was sized for every slot of
	 * every chunk. */
	size_t keep = p->in_use > KEEP_BACKED ? p->in_use : KEEP_BACKED;
	uint8_t *run = NULL; /* slots to give back, merged into address runs */
	size_t run_len = 0;
	for (size_t i = 0; i < n; i++) {
		bool backed = p->backed_free < keep;
		p->backed_free += backed;
		p->free[p->nfree++] = (free_slot){slots[i], backed};
		if (backed)
			continue;
		if (run && slots[i] == run + run_len) {
			run_len += p->slot;
			continue;
		}
		if (run)
			(void)ms__os_discard(run, run_len);
		run = slots[i];
		run_len = p->slot;
	}
	if (run)
		(void)ms__os_discard(run, run_len);
	pthread_mutex_unlock(&p->lock);
}

size_t ms__pool_chunks(ms__pool *p)
{
	size_t n = 0;
	pthread_mutex_lock(&p->lock);
	for (chunk *c = p->chunks; c; c = c->next)
		n++;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void ms__pool_destroy(ms__pool *p)
{
	if (!p)
		return;
	for (chunk *c = p->chunks, *next; c; c = next) {
		next = c->next;
		ms__os_unmap(c->base, c->bytes);
		free(c);
	}
	free(p->free);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
