/* The small-block arena of a sandbox's Lua state (core/util/arena.c): lua_Alloc's contract, the
 * footprint cap, and shrinks that do not fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i);
}

static bool same(const unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i))
			return false;
	return true;
}

static void blocks_of_every_size_are_aligned_apart_and_reused(void **state)
{
	(void)state;
	sova_arena a;
	sova_arena_init(&a, 1 << 24);
	unsigned char *blocks[SOVA_ARENA_MAX_SMALL + 1];
	for (size_t n = 1; n <= SOVA_ARENA_MAX_SMALL; n++) {
		blocks[n] = sova_arena_realloc(&a, NULL, 0, n);
		assert_non_null(blocks[n]);
		assert_int_equal((uintptr_t)blocks[n] % SOVA_ARENA_GRAIN, 0);
		fill(blocks[n], n, (unsigned char)n);
	}
	for (size_t n = 1; n <= SOVA_ARENA_MAX_SMALL; n++)
		assert_true(same(blocks[n], n, (unsigned char)n)); /* no block overlaps another */
	void *freed = blocks[100];
	assert_null(sova_arena_realloc(&a, freed, 100, 0));
	assert_ptr_equal(sova_arena_realloc(&a, NULL, 0, 97), freed); /* same class: the freed block */
	sova_arena_release(&a);
	assert_null(a.pages);
	assert_int_equal(a.page_bytes, 0);
}

static void resizes_keep_the_contents(void **state)
{
	(void)state;
	sova_arena a;
	sova_arena_init(&a, 1 << 24);
	unsigned char *p = sova_arena_realloc(&a, NULL, 0, 20);
	fill(p, 20, 7);
	p = sova_arena_realloc(&a, p, 20, 200); /* small to a larger class */
	assert_true(same(p, 20, 7));
	fill(p, 200, 9);
	p = sova_arena_realloc(&a, p, 200, 5000); /* small to large */
	assert_true(same(p, 200, 9));
	fill(p, 5000, 11);
	p = sova_arena_realloc(&a, p, 5000, 9000); /* large to large */
	assert_true(same(p, 5000, 11));
	p = sova_arena_realloc(&a, p, 9000, 300); /* large to small */
	assert_true(same(p, 300, 11));
	unsigned char *q = sova_arena_realloc(&a, p, 300, 40); /* a small shrink stays */
	assert_ptr_equal(q, p);
	assert_true(same(q, 40, 11));
	assert_null(sova_arena_realloc(&a, q, 40, 0));
	sova_arena_release(&a);
}

static void past_the_cap_growth_is_refused_and_a_shrink_is_not(void **state)
{
	(void)state;
	sova_arena a;
	sova_arena_init(&a, 2 * SOVA_ARENA_PAGE);
	size_t taken = 0;
	while (sova_arena_realloc(&a, NULL, 0, SOVA_ARENA_MAX_SMALL))
		taken++;
	assert_true(taken > 0 && taken < 2 * SOVA_ARENA_PAGE / SOVA_ARENA_MAX_SMALL);
	assert_int_equal(a.page_bytes, 2 * SOVA_ARENA_PAGE);
	void *big = sova_arena_realloc(&a, NULL, 0, 4096); /* large blocks: the caller caps them */
	assert_non_null(big);
	fill(big, 64, 3);
	void *small = sova_arena_realloc(&a, big, 4096, 64); /* needs a page: the spare */
	assert_non_null(small);
	assert_true(same(small, 64, 3));
	sova_arena_release(&a);
	assert_null(a.pages);
	assert_null(a.spare);
}

/* (under the sanitizer build a block left behind is a leak report) */
static void release_frees_the_blocks_still_in_use(void **state)
{
	(void)state;
	sova_arena a;
	sova_arena_init(&a, 1 << 24);
	for (size_t n = 1; n < 3 * SOVA_ARENA_PAGE; n += 997)
		assert_non_null(sova_arena_realloc(&a, NULL, 0, n));
	void *grown = sova_arena_realloc(&a, NULL, 0, 1000);
	assert_non_null(sova_arena_realloc(&a, grown, 1000, 100000));
	assert_non_null(a.large);
	sova_arena_release(&a);
	assert_null(a.large);
	assert_null(a.pages);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blocks_of_every_size_are_aligned_apart_and_reused),
		cmocka_unit_test(resizes_keep_the_contents),
		cmocka_unit_test(past_the_cap_growth_is_refused_and_a_shrink_is_not),
		cmocka_unit_test(release_frees_the_blocks_still_in_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
