/* The memory of one Lua state (core/bind/sandbox.c): blocks of up to SOVA_ARENA_MAX_SMALL
 * bytes come from the arena's own pages, one free list per 16-byte size class; larger ones from
 * malloc, on the arena's list. Releasing the arena frees all of it at once (a few pages and the
 * large blocks, not one free() per object), and a state's objects sit together in memory.
 * lua_Alloc's contract: the caller passes each block's size as it last asked for it. Plain C,
 * one thread at a time. */
#ifndef SOVA_UTIL_ARENA_H
#define SOVA_UTIL_ARENA_H

#include <stddef.h>

#define SOVA_ARENA_GRAIN 16
#define SOVA_ARENA_MAX_SMALL 512
#define SOVA_ARENA_CLASSES (SOVA_ARENA_MAX_SMALL / SOVA_ARENA_GRAIN)
#define SOVA_ARENA_PAGE (64 * 1024)

typedef struct sova_arena_page sova_arena_page;
typedef struct sova_arena_large sova_arena_large;

typedef struct sova_arena {
	void *free_blocks[SOVA_ARENA_CLASSES]; /* per class: a list through the blocks' first word */
	char *bump, *bump_end;                 /* the rest of the newest page */
	sova_arena_page *pages;                /* owned: every page, newest first */
	sova_arena_page *spare;                /* owned: the next page, taken ahead for a shrink */
	sova_arena_large *large;               /* owned: the large blocks in use */
	size_t page_bytes, max_page_bytes;     /* of the pages in use (the spare not counted) */
} sova_arena;

/* An empty arena whose pages may total at most max_page_bytes (past it, a small block that
 * needs a new page is refused: a state that churns through size classes cannot grow its
 * footprint without bound). */
void sova_arena_init(sova_arena *a, size_t max_page_bytes);

/* lua_Alloc without the user data: ptr NULL (osize ignored) allocates, nsize 0 frees, else
 * resizes, keeping min(osize, nsize) bytes. NULL when an allocation or a growth cannot be had.
 * A free never fails; a shrink stays in place, or (large to small) takes the spare page kept
 * ahead, past the cap if need be: it fails only if the system has no memory for a page. */
void *sova_arena_realloc(sova_arena *a, void *ptr, size_t osize, size_t nsize);

/* Frees every block still in use, small and large. The arena is empty again afterwards. */
void sova_arena_release(sova_arena *a);

#endif
