#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ms__dirty_init(ms__dirty_set *d, size_t npages)
{
	memset(d, 0, sizeof *d);
	d->npages = npages;
	size_t pg = ms_page_size();
	/* Reserved, lazily backed memory: a 64 GiB view needs 2 MiB of bits
	 * and 128 MiB of list in the worst case, but only the touched part is
	 * ever backed. */
	d->bits_bytes = ((npages + 63) / 64 * 8 + pg - 1) / pg * pg;
	d->list_bytes = (npages * sizeof(size_t) + pg - 1) / pg * pg;
	if (d->bits_bytes == 0)
		d->bits_bytes = pg;
	if (d->list_bytes == 0)
		d->list_bytes = pg;
	void *bits, *list;
	int err = ms__os_reserve(d->bits_bytes, MS_ACCESS_READ | MS_ACCESS_WRITE, &bits);
	if (err)
		return err;
	err = ms__os_reserve(d->list_bytes, MS_ACCESS_READ | MS_ACCESS_WRITE, &list);
	if (err) {
		ms__os_unmap(bits, d->bits_bytes);
		return err;
	}
	d->bits = bits;
	d->list = list;
	return 0;
}

void ms__dirty_fini(ms__dirty_set *d)
{
	if (d->bits)
		ms__os_unmap((void *)d->bits, d->bits_bytes);
	if (d->list)
		ms__os_unmap(d->list, d->list_bytes);
	d->bits = NULL;
	d->list = NULL;
}

void ms__dirty_add_run(ms__dirty_set *d, size_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ms__dirty_add(d, first + i);
}

static int cmp_page(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

void ms__pages_sort(size_t *list, size_t n)
{
	/* Lists are often sorted already (a restore that only copies hot
	 * pages back sorts the list the previous one left). */
	size_t i = 1;
	while (i < n && list[i - 1] <= list[i])
		i++;
	if (i < n)
		qsort(list, n, sizeof *list, cmp_page);
}

long ms__pages_to_ranges(const size_t *list, size_t n, ms_range *ranges, size_t cap)
{
	unsigned shift = ms__page_shift();
	long runs = 0;
	size_t i = 0;
	ms__page_run run;
	while (ms__next_run(list, n, &i, &run)) {
		if ((size_t)runs < cap)
			ranges[runs] = (ms_range){run.first << shift, run.n << shift};
		runs++;
	}
	return runs;
}

void ms__dirty_sort(ms__dirty_set *d)
{
	ms__pages_sort(d->list, atomic_load(&d->n));
}

void ms__dirty_clear(ms__dirty_set *d)
{
	size_t n = atomic_load(&d->n);
	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&d->bits[d->list[i] >> 6], 0, memory_order_relaxed);
	atomic_store(&d->n, 0);
}
