/* Small-block arena for a Lua state: see arena.h. */
#include "util/arena.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sova_arena_page {
	alignas(SOVA_ARENA_GRAIN) sova_arena_page *next; /* then the blocks, 16-byte aligned */
};

#define PAGE_HEADER ((sizeof(sova_arena_page) + SOVA_ARENA_GRAIN - 1) / SOVA_ARENA_GRAIN * SOVA_ARENA_GRAIN)

/* A large block: malloc'd with this header, on the arena's list, so release frees it too. */
struct sova_arena_large {
	alignas(SOVA_ARENA_GRAIN) sova_arena_large *prev;
	sova_arena_large *next;
};

#define LARGE_HEADER ((sizeof(sova_arena_large) + SOVA_ARENA_GRAIN - 1) / SOVA_ARENA_GRAIN * SOVA_ARENA_GRAIN)

static bool small(size_t n) { return n > 0 && n <= SOVA_ARENA_MAX_SMALL; }

static size_t class_of(size_t n) { return (n - 1) / SOVA_ARENA_GRAIN; }

void sova_arena_init(sova_arena *a, size_t max_page_bytes)
{
	memset(a, 0, sizeof *a);
	a->max_page_bytes = max_page_bytes;
}

/* A new page, or NULL. */
static sova_arena_page *new_page(void)
{
	sova_arena_page *p = malloc(SOVA_ARENA_PAGE);
	if (p)
		p->next = NULL;
	return p;
}

/* A block of class c: from its free list, the newest page, or a new page. A new page for an
 * allocation or a growth must fit under the cap; a shrink takes the spare page kept ahead (or
 * any page it can get), cap or not: LuaJIT's collector shrinks tables and buffers as it runs
 * and must not fail there. */
static void *take(sova_arena *a, size_t c, bool shrinking)
{
	void *b = a->free_blocks[c];
	if (b) {
		a->free_blocks[c] = *(void **)b;
		return b;
	}
	size_t size = (c + 1) * SOVA_ARENA_GRAIN;
	if ((size_t)(a->bump_end - a->bump) < size) {
		if (!shrinking && a->page_bytes + SOVA_ARENA_PAGE > a->max_page_bytes)
			return NULL;
		sova_arena_page *p = a->spare ? a->spare : new_page();
		if (!p)
			return NULL;
		a->spare = NULL;
		p->next = a->pages;
		a->pages = p;
		a->page_bytes += SOVA_ARENA_PAGE;
		a->bump = (char *)p + PAGE_HEADER;
		a->bump_end = (char *)p + SOVA_ARENA_PAGE;
		if (!shrinking)
			a->spare = new_page(); /* best effort: the next shrink that needs a page has it */
	}
	b = a->bump;
	a->bump += size;
	return b;
}

static sova_arena_large *header_of(void *p) { return (sova_arena_large *)((char *)p - LARGE_HEADER); }

static void link_large(sova_arena *a, sova_arena_large *h)
{
	h->prev = NULL;
	h->next = a->large;
	if (h->next)
		h->next->prev = h;
	a->large = h;
}

static void unlink_large(sova_arena *a, sova_arena_large *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		a->large = h->next;
	if (h->next)
		h->next->prev = h->prev;
}

static void *large_new(sova_arena *a, size_t n)
{
	if (n > SIZE_MAX - LARGE_HEADER)
		return NULL;
	sova_arena_large *h = malloc(LARGE_HEADER + n);
	if (!h)
		return NULL;
	link_large(a, h);
	return (char *)h + LARGE_HEADER;
}

/* NULL when it cannot grow (the block is unchanged then) */
static void *large_resize(sova_arena *a, void *p, size_t n)
{
	if (n > SIZE_MAX - LARGE_HEADER)
		return NULL;
	sova_arena_large *h = header_of(p);
	unlink_large(a, h);
	sova_arena_large *moved = realloc(h, LARGE_HEADER + n);
	link_large(a, moved ? moved : h);
	return moved ? (char *)moved + LARGE_HEADER : NULL;
}

static void give_back(sova_arena *a, void *b, size_t size)
{
	if (small(size)) {
		size_t c = class_of(size);
		*(void **)b = a->free_blocks[c];
		a->free_blocks[c] = b;
	} else {
		sova_arena_large *h = header_of(b);
		unlink_large(a, h);
		free(h);
	}
}

void *sova_arena_realloc(sova_arena *a, void *ptr, size_t osize, size_t nsize)
{
	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		if (ptr)
			give_back(a, ptr, osize);
		return NULL;
	}
	if (ptr) {
		/* a block whose class does not change stays; so does a small one that shrinks (a
		 * block in a smaller class's list is merely larger than it needs to be) */
		if (small(osize) && small(nsize) && class_of(nsize) <= class_of(osize))
			return ptr;
		if (!small(osize) && !small(nsize)) {
			void *p = large_resize(a, ptr, nsize);
			return p ? p : nsize < osize ? ptr : NULL;
		}
	}
	bool shrinking = ptr && nsize < osize;
	void *p = small(nsize) ? take(a, class_of(nsize), shrinking) : large_new(a, nsize);
	if (!p)
		return NULL;
	if (ptr) {
		memcpy(p, ptr, osize < nsize ? osize : nsize);
		give_back(a, ptr, osize);
	}
	return p;
}

void sova_arena_release(sova_arena *a)
{
	for (sova_arena_page *p = a->pages, *next; p; p = next) {
		next = p->next;
		free(p);
	}
	free(a->spare);
	for (sova_arena_large *h = a->large, *next; h; h = next) {
		next = h->next;
		free(h);
	}
	sova_arena_init(a, a->max_page_bytes);
}
