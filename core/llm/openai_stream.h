/* An OpenAI Chat Completions answer streamed as server-sent events (chat.completion.chunk
 * objects, then `data: [DONE]`), read as its body arrives, whatever the chunk boundaries: the
 * text deltas of choice 0 as pieces, its tool-call fragments joined per call, finish_reason and
 * usage. Plain C (no Lua): the openai adapter (lua/sova/llm/openai.lua) reads it through
 * core.llm.openai_stream (core/bind/llm.c), so a turn's dozen chunks cost no Lua tables.
 *
 * It reads JSON as lua-cjson did for the adapter before (nesting up to 64, strings' bytes as
 * they are, \u escapes to UTF-8) and takes members as the adapter's Lua did: the last of a
 * repeated key, a member of the wrong type ignored. An event with an `error` member is handed
 * back whole (sova_oai_stream_message): the adapter words the server's message. */
#ifndef SOVA_LLM_OPENAI_STREAM_H
#define SOVA_LLM_OPENAI_STREAM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sova_oai_stream sova_oai_stream;

typedef enum {
	SOVA_OAI_OK = 0,
	SOVA_OAI_MALFORMED,     /* an event that is not JSON, or not an object */
	SOVA_OAI_TOO_BIG,       /* a line or an event's data over max_event_bytes */
	SOVA_OAI_ERROR_EVENT,   /* the server reported an error in the stream: the event's data */
	SOVA_OAI_INCOMPLETE,    /* (finish) the body ended before a finish_reason or [DONE] */
	SOVA_OAI_OUT_OF_MEMORY,
} sova_oai_status;

/* NULL when out of memory; the caller frees it with sova_oai_stream_free. */
sova_oai_stream *sova_oai_stream_new(size_t max_event_bytes);
void sova_oai_stream_free(sova_oai_stream *s);

/* Reads a piece of the body. Once the status is not OK it stays so, and later feeds and finish
 * read nothing. */
sova_oai_status sova_oai_stream_feed(sova_oai_stream *s, const char *bytes, size_t len);
/* The end of the body: dispatches what a server left without its final blank line. */
sova_oai_status sova_oai_stream_finish(sova_oai_stream *s);

/* The text deltas the last feed or finish read (before a failure), in order, each as the stream
 * gave it (never empty); a piece's bytes are valid until the next feed or finish. */
size_t sova_oai_stream_pieces(const sova_oai_stream *s);
const char *sova_oai_stream_piece(const sova_oai_stream *s, size_t i, size_t *len);

/* What went wrong (status not OK): a message, or for SOVA_OAI_ERROR_EVENT the event's data. */
const char *sova_oai_stream_message(const sova_oai_stream *s, size_t *len);

/* ---- the answer (after finish) ---- */
const char *sova_oai_stream_text(const sova_oai_stream *s, size_t *len);
const char *sova_oai_stream_finish_reason(const sova_oai_stream *s, size_t *len); /* NULL: none */
/* usage: prompt_tokens, completion_tokens, total_tokens; bit i of the result set when usage[i] is */
unsigned sova_oai_stream_usage(const sova_oai_stream *s, double usage[3]);

typedef struct {
	const char *id; /* NULL: the server gave none */
	size_t id_len;
	const char *name, *arguments; /* the fragments joined, as sent (arguments: JSON text) */
	size_t name_len, arguments_len;
} sova_oai_tool_call;

/* The tool calls in the order they began; each call's strings live as long as s. */
size_t sova_oai_stream_tool_calls(const sova_oai_stream *s);
void sova_oai_stream_tool_call(const sova_oai_stream *s, size_t i, sova_oai_tool_call *out);

#endif
