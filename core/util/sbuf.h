/* A growable NUL-terminated text buffer: the one the C code builds text in (JSON, URLs, grammars,
 * a parser's pieces). An allocation that fails marks it failed and every later append is a
 * no-op, so a caller checks once at the end. Plain C. */
#ifndef SOVA_UTIL_SBUF_H
#define SOVA_UTIL_SBUF_H
#include <stdbool.h>
#include <stddef.h>

typedef struct sova_sbuf {
	char *data; /* NUL-terminated once anything was added; owned */
	size_t len, cap;
	bool failed; /* an allocation failed: the content is incomplete */
} sova_sbuf;

/* Room for more bytes and the NUL after them; false (and failed) when there is none. */
bool sova_sbuf_reserve(sova_sbuf *b, size_t more);
/* Empties b (keeping its memory) and clears failed. */
void sova_sbuf_reset(sova_sbuf *b);
void sova_sbuf_free(sova_sbuf *b);
void sova_sbuf_add(sova_sbuf *b, const char *s, size_t n);
void sova_sbuf_adds(sova_sbuf *b, const char *s);
void sova_sbuf_printf(sova_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
