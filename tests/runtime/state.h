/* Whole-engine state for the differential tests: memory map, the content of
 * every mapped byte and the registers, captured and compared exactly. */
#ifndef MEMSNAP_TESTS_RUNTIME_STATE_H
#define MEMSNAP_TESTS_RUNTIME_STATE_H

#include "guest.h"
#include "internal.h"

typedef struct engine_state {
	uc_mem_region *map;
	uint32_t nmap;
	uint8_t **mem;
	uint8_t regs[2048];
	long regs_len;
} engine_state;

static inline void state_capture(guest_env *e, engine_state *s)
{
	memset(s, 0, sizeof *s);
	cr_assert_eq(uc_mem_regions(e->uc, &s->map, &s->nmap), UC_ERR_OK);
	/* The map as address -> permissions: Unicorn keeps a region split by
	 * uc_mem_protect split even after its permissions are made equal again. */
	uint32_t k = 0;
	for (uint32_t i = 0; i < s->nmap; i++) {
		if (k && s->map[k - 1].end + 1 == s->map[i].begin &&
		    s->map[k - 1].perms == s->map[i].perms)
			s->map[k - 1].end = s->map[i].end;
		else
			s->map[k++] = s->map[i];
	}
	s->nmap = k;
	s->mem = calloc(s->nmap + 1, sizeof *s->mem);
	for (uint32_t i = 0; i < s->nmap; i++) {
		size_t len = s->map[i].end - s->map[i].begin + 1;
		s->mem[i] = malloc(len);
		cr_assert_eq(uc_mem_read(e->uc, s->map[i].begin, s->mem[i], len), UC_ERR_OK);
	}
	s->regs_len = ms__uc_regs_save(e->uc, e->g->arch, e->g->mode, s->regs, sizeof s->regs);
	cr_assert_gt(s->regs_len, 0);
}

static inline void state_free(engine_state *s)
{
	for (uint32_t i = 0; i < s->nmap; i++)
		free(s->mem[i]);
	free(s->mem);
	uc_free(s->map);
}

/* Assert that the engine is exactly in state `s`. */
static inline void state_check(guest_env *e, const engine_state *s, int iteration)
{
	engine_state now;
	state_capture(e, &now);
	cr_assert_eq(now.nmap, s->nmap, "iteration %d: %u regions, expected %u", iteration,
		     now.nmap, s->nmap);
	for (uint32_t i = 0; i < s->nmap; i++) {
		cr_assert(now.map[i].begin == s->map[i].begin && now.map[i].end == s->map[i].end &&
			      now.map[i].perms == s->map[i].perms,
			  "iteration %d: region %u is %#llx-%#llx/%u, expected %#llx-%#llx/%u",
			  iteration, i, (unsigned long long)now.map[i].begin,
			  (unsigned long long)now.map[i].end, now.map[i].perms,
			  (unsigned long long)s->map[i].begin, (unsigned long long)s->map[i].end,
			  s->map[i].perms);
		size_t len = s->map[i].end - s->map[i].begin + 1;
		if (memcmp(now.mem[i], s->mem[i], len) != 0) {
			size_t k = 0;
			while (now.mem[i][k] == s->mem[i][k])
				k++;
			cr_assert_fail("iteration %d: guest memory differs at %#llx", iteration,
				       (unsigned long long)(s->map[i].begin + k));
		}
	}
	cr_assert_eq(now.regs_len, s->regs_len);
	cr_assert(memcmp(now.regs, s->regs, (size_t)s->regs_len) == 0,
		  "iteration %d: registers differ", iteration);
	state_free(&now);
}

#endif
