/* Deepgram live streaming behind stt.h (wire format: /work/shared/VOICE-NOTES.md section 3).
 *
 * One WebSocket per stretch of listening, opened by the first start(): `<base>/v1/listen?model=&
 * language=&encoding=linear16&sample_rate=&channels=1&interim_results=true&endpointing=&
 * utterance_end_ms=&vad_events=true&smart_format=true` plus, on a Nova-3 model (the only ones with
 * keyterm prompting), one `keyterm=` per phrase of a grammar, a keyword search or an open search's
 * hints (the <digits>-style tokens left out; the first 50, of at most 400 words in
 * 2.5 KiB of the URL: Deepgram takes 100 of 500 tokens),
 * header `Authorization: Token <key>`.
 * interim_results is always true on the wire (UtteranceEnd needs it); options.interim_results only
 * says whether INTERIM events are delivered. A later start() with the same phrases just finalizes;
 * with other phrases the old stream is finalized and closed (its last results still delivered) and
 * a new one opened: keyterms are fixed per stream.
 *
 * Audio fed before the socket is open waits; all audio not yet covered by a final (the end of the
 * last is_final segment, start + duration) is kept. When an open socket drops, the client reconnects
 * once and re-sends that audio, so no words are lost; times stay on the first stream's clock. If
 * the second connection fails too (or the first never opened, or Deepgram closed it with an error
 * code), SOVA_STT_ERROR "code: message" ends the recognizer; finals delivered before stay as they
 * were. KeepAlive goes every keepalive_ms while no audio flows; finalize() sends Finalize (and
 * UTTERANCE_END follows its final when speech was heard, once: Deepgram's own later UtteranceEnd for
 * the same words is not repeated); close() sends CloseStream and closes the socket.
 *
 * Errors: a connect or handshake failure ("auth: ..." for 401/403), a timeout (connect, or no
 * answer to Finalize within result_timeout_ms), Deepgram's close codes (1008 DATA-0000, 1011
 * NET-0000/NET-0001: "1011: NET-0001 ..."), more than max_malformed malformed messages (each one
 * ignored and counted before that). Everything runs on the lws context's loop thread; events are
 * delivered there too (stt.h's "thread that called feed" is that thread). */
#ifndef SOVA_SPEECH_STT_DEEPGRAM_H
#define SOVA_SPEECH_STT_DEEPGRAM_H
#include <stddef.h>

#include "bot/speech/stt.h"

struct lws_context;

typedef struct sova_deepgram_config {
	const char *api_key;      /* required; sent only in the Authorization header, never logged */
	const char *base_url;     /* DEEPGRAM_API_BASE; NULL: wss://api.deepgram.com (a path prefix is kept) */
	const char *ca_file;      /* SOVA_PROVIDER_CA_FILE; NULL: the system's CAs */
	const char *model;        /* NULL: "nova-3" */
	bool smart_format;        /* smart_format=true (punctuation, numerals) */
	int connect_timeout_ms;   /* 0: 5000 */
	int keepalive_ms;         /* 0: 4000 (Deepgram closes after 10 s without audio or a message) */
	int result_timeout_ms;    /* finalize() unanswered this long → error; 0: 5000 */
	int max_replay_ms;        /* audio kept for a reconnect; 0: 60000 (older audio is dropped) */
	int max_malformed;        /* malformed messages tolerated; 0: 10 */
} sova_deepgram_config;

/* config->sample_rate: 8000..48000. NULL with err on a bad config (no key, bad URL). */
sova_stt *sova_stt_deepgram_new(struct lws_context *ctx, const sova_deepgram_config *dg, const sova_stt_config *config,
				sova_stt_callback cb, void *user, char *err, size_t errlen);

/* Malformed messages ignored so far, and reconnects made (for the call's log). */
size_t sova_stt_deepgram_malformed(const sova_stt *r);
size_t sova_stt_deepgram_reconnects(const sova_stt *r);
#endif
