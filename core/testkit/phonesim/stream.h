/* A Media Streams connection into the bot, as Twilio makes it for <Connect><Stream url>: a
 * WebSocket client (core/bot/speech/ws_client.c on the simulator's lws context) that sends
 * connected, start (callSid, streamSid, accountSid, customParameters from the <Parameter>s),
 * then the callee's audio as media every 20 ms (160 bytes of μ-law, base64), dtmf when the callee
 * presses a key, and stop when the call leaves the stream (a TwiML update, a hang-up).
 *
 * What the bot sends is played as Twilio's buffer plays it: media queues up and drains at real
 * time (8 bytes a millisecond) into the callee's ears; a mark comes back once the audio queued
 * before it has played; clear drops the buffer and returns every pending mark at once. A message
 * that is not one of media, mark, clear is counted (bad_message in the events file), as is a
 * streamSid that is not this stream's. */
#ifndef SOVA_PHONESIM_STREAM_H
#define SOVA_PHONESIM_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phonesim.h"
#include "twiml.h"

struct ps_call;
typedef struct ps_stream ps_stream;

/* Starts connecting to verb's url for call c. NULL (an event says why) when it cannot start. */
ps_stream *ps_stream_open(struct ps_call *c, const tw_verb *verb);
/* One frame of the callee's audio; dropped until start went, or when the bot does not read. */
void ps_stream_media(ps_stream *s, const uint8_t frame[PS_FRAME_BYTES]);
/* A key the callee pressed. */
void ps_stream_dtmf(ps_stream *s, char digit);
/* A fault for the bot's tests: n malformed messages (broken JSON, wrong types, another stream). */
void ps_stream_garbage(ps_stream *s, int n);
/* Plays the bot's audio up to now, returning marks whose audio has played. */
void ps_stream_tick(ps_stream *s, int64_t now_us);
/* The bot's audio still buffered (bytes). */
size_t ps_stream_buffered(const ps_stream *s);
/* The call leaves the stream: stop, then a close (1000). Frees s; the socket finishes alone. */
void ps_stream_stop(ps_stream *s, const char *why);
#endif
