/* Twilio Media Streams on the wire (../shared/VOICE-NOTES.md §2): one inbound JSON text frame
 * parsed into a typed message, and the outbound frames built. Plain C: no Lua, no lws. JSON is read
 * with the speech clients' helpers (bot/speech/provider_util.h, libbson); base64 is libsodium's,
 * the ORIGINAL (padded, +/) variant both ways.
 *
 * Inbound, what a message must hold (anything else is refused with a reason, and the owner counts
 * it as a malformed frame):
 *   every message: "event", a string; an event this codec does not know is SOVA_TWILIO_OTHER, not
 *     an error (Twilio may add kinds);
 *   all but connected: "streamSid", 1 to SOVA_TWILIO_MAX_SID of [A-Za-z0-9_-];
 *   start: start.callSid and start.accountSid likewise; start.customParameters, when present, an
 *     object of at most SOVA_TWILIO_MAX_PARAMS string values (names 1 to SOVA_TWILIO_MAX_PARAM_NAME
 *     bytes, everything within SOVA_TWILIO_MAX_PARAM_TEXT); start.mediaFormat, when present,
 *     {encoding: string, sampleRate: integer, channels: integer} (absent: audio/x-mulaw 8000 1,
 *     the only format of a bidirectional stream; the owner checks it is that one);
 *   media: media.payload, standard padded base64 of 1 to SOVA_TWILIO_MAX_AUDIO bytes;
 *   dtmf: dtmf.digit, one of the 16 tones 0-9 * # A-D;
 *   mark: mark.name, 1 to SOVA_TWILIO_MAX_NAME bytes;
 *   stop: nothing more.
 * Strings holding a NUL byte are refused everywhere. The frame itself is at most
 * SOVA_TWILIO_MAX_MESSAGE bytes and must be one JSON object.
 *
 * Outbound: media {payload}, mark {name}, clear, each with the stream's sid. The agent's turns are
 * marked "t<turn>" so a returned mark names the turn whose audio was heard. */
#ifndef SOVA_MEDIA_TWILIO_STREAM_H
#define SOVA_MEDIA_TWILIO_STREAM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/sbuf.h"

#define SOVA_TWILIO_MAX_MESSAGE 16384   /* bytes of one inbound frame */
#define SOVA_TWILIO_MAX_AUDIO 800       /* decoded media: 100 ms of 8 kHz μ-law (Twilio sends 20 ms) */
#define SOVA_TWILIO_MAX_SID 64
#define SOVA_TWILIO_MAX_NAME 64         /* a mark's name */
#define SOVA_TWILIO_MAX_PARAMS 16
#define SOVA_TWILIO_MAX_PARAM_NAME 64
#define SOVA_TWILIO_MAX_PARAM_TEXT 2048 /* customParameters' names and values, NULs included */

typedef enum {
	SOVA_TWILIO_OTHER = 0, /* a kind this codec does not know: ignored */
	SOVA_TWILIO_CONNECTED,
	SOVA_TWILIO_START,
	SOVA_TWILIO_MEDIA,
	SOVA_TWILIO_DTMF,
	SOVA_TWILIO_MARK,
	SOVA_TWILIO_STOP,
} sova_twilio_event;

typedef struct sova_twilio_param {
	const char *name, *value; /* NUL-terminated, inside the message's param_text */
} sova_twilio_param;

/* One inbound message; self-contained (nothing to free), about 4 KiB: the owner keeps one. */
typedef struct sova_twilio_msg {
	sova_twilio_event event;
	char stream_sid[SOVA_TWILIO_MAX_SID + 1]; /* "" for connected and other */
	/* start */
	char call_sid[SOVA_TWILIO_MAX_SID + 1], account_sid[SOVA_TWILIO_MAX_SID + 1];
	char encoding[32]; /* mediaFormat.encoding, "audio/x-mulaw" */
	int sample_rate, channels;
	size_t num_params;
	sova_twilio_param params[SOVA_TWILIO_MAX_PARAMS];
	char param_text[SOVA_TWILIO_MAX_PARAM_TEXT];
	/* media: μ-law bytes */
	uint8_t audio[SOVA_TWILIO_MAX_AUDIO];
	size_t audio_len;
	/* dtmf */
	char digit;
	/* mark */
	char mark[SOVA_TWILIO_MAX_NAME + 1];
} sova_twilio_msg;

/* Parses one text frame into m. false with err (a reason naming the field, never its content)
 * when the frame is malformed; m is then unspecified. */
bool sova_twilio_parse(sova_twilio_msg *m, const void *data, size_t len, char *err, size_t errlen);

/* Outbound frames: out is emptied, then holds the frame's JSON text. false when out could not
 * grow (out of memory). stream_sid is the start's (already checked: it needs no escaping, but is
 * escaped anyway). */
bool sova_twilio_media_frame(sova_sbuf *out, const char *stream_sid, const uint8_t *mulaw, size_t len);
bool sova_twilio_mark_frame(sova_sbuf *out, const char *stream_sid, uint32_t turn);
bool sova_twilio_clear_frame(sova_sbuf *out, const char *stream_sid);
/* The turn a mark names when it is one of ours ("t" and the decimal turn, 1 to UINT32_MAX, no
 * leading zero); false for any other name. */
bool sova_twilio_mark_turn(const char *name, uint32_t *turn);
#endif
