/* One voice call's media, on the bot's media thread: the far end's wire audio decoded, the VAD,
 * the recognizer and the synthesizer (any sova_stt / sova_tts), the outbound pacer, turn
 * detection, barge-in, what-was-played accounting, latency stamps, and both channels to a
 * recording sink. Plain C: no sockets, no threads, no Lua. Output frames and events go to the
 * owner's callbacks; the owner (core/bot/voice_loop.c) writes them to the socket and to Lua.
 *
 * Rules (one place each, in voice.c / voice_text.c):
 *
 * Turn detection. An utterance begins when the VAD starts speech or the recognizer gives words.
 * It ends (END_OF_TURN, text = the finals joined) when the recognizer has given final text, the
 * VAD is not in speech, and either the VAD has heard turn_min_silence_ms of silence after the
 * last speech or the recognizer reported the end (speech_final / UTTERANCE_END). When the
 * recognizer has given words but no final by turn_min_silence_ms, or no word at all by
 * turn_max_silence_ms (the latest), the voice calls sova_stt_finalize and ends the turn with what
 * it gives (when it gives nothing within SOVA_VOICE_FINALIZE_WAIT_MS, with the last interim).
 * Speech with no words (a cough, a door) ends no turn: it is dropped. So the voice, not the
 * recognizer's endpointer, decides: give pocketsphinx an endpointing_ms above turn_min_silence_ms
 * (1000), or its own endpointer splits a sentence at a pause and a grammar hears neither half. Silence is counted on the far end's audio (stream time), so a far
 * end that stops sending holds the turn open (browsers send silence while muted; Twilio always
 * sends). The VAD's hangover (vad_opts.min_silence_ms) is capped at turn_min_silence_ms.
 *
 * Barge-in. While the agent's audio is going out (the first frame of its line sent, the last not
 * yet), the other party interrupts when the VAD has been in speech for barge_in_min_ms AND the
 * recognizer has barge_in_min_words words in this utterance (finals + interim) that are not all
 * backchannels. Then, at once: the pacer drops its unsent audio, the synthesizer is cancelled,
 * CLEAR, then INTERRUPTED (text = what was played, played_ms). Later say() chunks of that line
 * (the model still streaming it) are dropped until its final chunk. Backchannels over the
 * agent's line never interrupt, and an utterance that began over the agent and holds nothing but
 * backchannels is dropped: its INTERIM/FINAL events are sent (the transcript shows them) but it
 * ends no turn. A backchannel heard while the agent is silent is an answer ("okay.") and ends a
 * turn as any other words do.
 *
 * What was played (INTERRUPTED's text). With the synthesizer's word marks: every say-chunk whose
 * audio fully went out, then, of the current chunk, the words whose mark ends within the played
 * time (the chunk's own words when it has as many as marks, keeping case and punctuation, else
 * the marks' words). Without marks: the chunks whose audio fully went out plus, of the current
 * one, floor(fraction of its audio played x its words) words: never a word not heard.
 *
 * Streaming. say() text is handed to the synthesizer clause by clause (a clause ends at , ; : .
 * ! ? and a space, or at the line's final chunk) while less than SOVA_VOICE_LOOKAHEAD_MS of
 * synthesized audio waits to go out, so an inline synthesizer (flite) never blocks the media
 * thread for a whole line and memory stays bounded; a cloud synthesizer answers asynchronously,
 * so its clauses all go at once. Lines said before set_answered(true) (the greeting) are
 * synthesized ahead and go out from the first tick after it.
 *
 * Recording. Both channels at wire_rate on one timeline: samples since sova_voice_new on the
 * voice's clock. The agent's frame at its pacing deadline; the other party's audio contiguous
 * from where its first frame arrived, re-anchored after a gap in sending of more than 200 ms.
 *
 * Hold. sova_voice_set_hold(true) pauses recognition: the recognizer gets no audio (no provider
 * cost), the VAD is not run, no turn ends and nothing barges in; the hold watcher (hold.h) looks at
 * every frame and keeps the last SOVA_HOLD_PREROLL_MS of it. When it suspects a voice, a probe
 * begins: SPEECH_STARTED with probe set, then the pre-roll and the live audio go to the VAD and
 * the recognizer, so the transcript can tell (the flow's job) a representative from a recorded
 * "your call is important to us"; turns end as usual. A probe lasts probe_max_ms of the far end's
 * audio; then, unless the owner ended the hold, what was being said is dropped (SPEECH_STOPPED)
 * and the watcher looks again. set_hold(true) during a probe ends it at once (the flow heard a
 * hold message); set_hold(false) resumes recognition, the pre-roll first when no probe ran, so
 * the first words said before it are heard. Every SPEECH_STARTED while on hold has probe set.
 *
 * Hostile input. A malformed frame (empty, odd PCM16 length, more than 100 ms) is refused with a
 * reason. Audio beyond real time (measured from the first frame, with SOVA_VOICE_INPUT_BURST_MS
 * of jitter allowed) is dropped and counted, with an ERROR event (not fatal) at most once a
 * second; the voice queues no input, so nothing grows.
 *
 * Callbacks (on_event, on_frame, record) must not call sova_voice_* functions: the owner queues
 * what it wants to do (Lua decides on its own thread anyway). */
#ifndef SOVA_MEDIA_VOICE_H
#define SOVA_MEDIA_VOICE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/media/pacer.h"
#include "bot/media/vad.h"
#include "bot/speech/stt.h"
#include "bot/speech/tts.h"

#define SOVA_VOICE_LOOKAHEAD_MS 1000     /* synthesized audio kept ahead of playback */
#define SOVA_VOICE_MAX_QUEUED_MS 60000   /* synthesized audio waiting to go out, at most */
#define SOVA_VOICE_INPUT_BURST_MS 1000   /* input ahead of real time allowed (network jitter) */
#define SOVA_VOICE_FINALIZE_WAIT_MS 1000 /* after finalize(), the longest wait for its final */
#define SOVA_VOICE_MAX_LINES 4           /* agent lines said and not yet played out */
#define SOVA_VOICE_MAX_LINE_TEXT 16384   /* bytes of one agent line */
#define SOVA_VOICE_MAX_UTTERANCE 4096    /* bytes of one utterance's text (cut at a word after) */
#define SOVA_VOICE_PROBE_MAX_MS 10000    /* on hold, a probe's longest run of recognition */

typedef struct sova_voice sova_voice;

typedef enum { /* event kinds, to the owner */
	SOVA_VOICE_SPEECH_STARTED = 1, /* VAD (debounced) or the recognizer's SpeechStarted; on hold, the
	                                  watcher suspects a voice (probe) */
	SOVA_VOICE_SPEECH_STOPPED,
	SOVA_VOICE_INTERIM,            /* text: the current utterance so far (finals + the partial words) */
	SOVA_VOICE_FINAL,              /* text: one final segment (more may follow before END_OF_TURN) */
	SOVA_VOICE_END_OF_TURN,        /* text: the whole utterance; stamps filled; Lua answers it */
	SOVA_VOICE_AGENT_STARTED,      /* turn: the first frame of the agent's line went out */
	SOVA_VOICE_AGENT_DONE,         /* turn: every frame of the line went out; text: what was said */
	SOVA_VOICE_INTERRUPTED,        /* turn: barge-in: text = the part actually played, played_ms;
	                                  playback dropped, synthesis cancelled */
	SOVA_VOICE_CLEAR,              /* the owner must tell the far end to drop its buffered audio now */
	SOVA_VOICE_ERROR,              /* text: "stt: ..." / "tts: ..." / "input: ..." / "record: ..."; fatal = the call cannot go on */
} sova_voice_event_kind;

typedef struct sova_voice_stamps { /* monotonic ns on the voice's clock; 0 = did not happen */
	int64_t speech_end;       /* VAD speech stop (without one: the last words' arrival) */
	int64_t final_transcript; /* the turn's last final with words reached the voice */
	int64_t turn_end;         /* the voice decided the turn was over and told its owner */
	int64_t say_requested;    /* the owner's first say() of the answer */
	int64_t first_audio;      /* the synthesizer's first frame of the answer reached the voice */
	int64_t first_frame_out;  /* the first frame of the answer was written to the wire */
} sova_voice_stamps;

typedef struct sova_voice_event {
	sova_voice_event_kind kind;
	const char *text;        /* valid during the callback; "" when none */
	uint32_t turn;           /* the agent's line (say() numbering); END_OF_TURN: the line it answers (0: none yet) */
	uint64_t played_ms;      /* INTERRUPTED, AGENT_DONE */
	bool fatal;              /* ERROR */
	bool probe;              /* SPEECH_STARTED: on hold (recognition runs for a probe) */
	double confidence;       /* FINAL / END_OF_TURN: 0..1, -1 unknown */
	sova_voice_stamps stamps;/* END_OF_TURN: speech_end, final_transcript, turn_end; AGENT_STARTED: all six
	                            (the previous user turn's, and this answer's) */
} sova_voice_event;

typedef struct sova_voice_config {
	int wire_rate;                     /* 8000 / 16000 / 48000: the far end's audio, both ways */
	sova_audio_encoding wire_encoding; /* SOVA_AUDIO_PCM16 (little-endian) or SOVA_AUDIO_MULAW */
	int frame_ms;                      /* outbound frame length; 0: 20 */
	int64_t tick_ns;                   /* how often the owner calls sova_voice_pace; 0: a frame */
	sova_stt *stt;                     /* owned by the voice from sova_voice_new on (even when it fails);
	                                      its callback and user are set by the voice */
	int stt_rate;                      /* what stt takes; 0: stt->config.sample_rate */
	sova_tts *tts;                     /* owned likewise; its rate is sova_tts_sample_rate */
	sova_vad_kind vad;                 /* 0: SOVA_VAD_ENERGY */
	sova_vad_opts vad_opts;            /* all zero: sova_vad_opts_default */
	int turn_min_silence_ms;           /* 0: 500 */
	int turn_max_silence_ms;           /* 0: 2000 */
	int barge_in_min_ms;               /* 0: 400 */
	int barge_in_min_words;            /* 0: 2 */
	bool barge_in_off;                 /* never interrupted (services.yaml voice.barge_in.enabled: false) */
	int probe_max_ms;                  /* on hold, a probe's length; 0: SOVA_VOICE_PROBE_MAX_MS */
	const char *const *backchannels;   /* lowercase words or phrases; NULL: the defaults (voice_text.c) */
	size_t num_backchannels;
	void (*on_event)(void *ud, const sova_voice_event *ev);
	void (*on_frame)(void *ud, const void *wire, size_t len); /* one outbound frame, wire format */
	int (*record)(void *ud, int channel /* 0 agent, 1 other party */, uint64_t at_sample,
		      const int16_t *pcm, size_t n); /* at wire_rate; 0 ok; NULL: not recorded */
	void *ud;
	sova_clock_ns_fn clock;            /* stamps, flood and recording timeline; NULL: CLOCK_MONOTONIC */
	void *clock_ud;
} sova_voice_config;

#define SOVA_VOICE_LATE_BUCKETS 51

typedef struct sova_voice_stats {
	uint64_t frames_in, frames_out, frames_late, underruns;
	uint64_t input_refused;      /* malformed frames */
	uint64_t input_dropped_ms;   /* faster than real time */
	uint64_t barge_ins, backchannels_ignored, turns, utterances_dropped;
	uint64_t hold_probes;        /* times the hold watcher suspected a voice */
	uint64_t hold_bytes;         /* audio not sent to the recognizer on hold: PCM16 bytes at its rate */
	size_t queued_ms;            /* synthesized audio waiting now */
	uint64_t late_ms[SOVA_VOICE_LATE_BUCKETS]; /* frames out by lateness: [k] k to k+1 ms past their
	                                              deadline (on the clock as they left), the last one
	                                              that or more */
} sova_voice_stats;

/* NULL + err on a bad configuration or no memory (stt and tts are freed then). Caller frees. */
sova_voice *sova_voice_new(const sova_voice_config *cfg, char *err, size_t errlen);
void sova_voice_free(sova_voice *v);
/* The far end's audio, wire bytes, up to 100 ms a frame. false + err for a malformed frame: the
 * owner decides (count, then fail the call). Recognition begins with the first sova_voice_listen. */
bool sova_voice_input(sova_voice *v, const void *wire, size_t len, char *err, size_t errlen);
/* Every frame_ms: paces out due frames through on_frame, then hands the synthesizer what it may
 * speak next. tick_ns: when this tick was due (the frames' schedule); their lateness is taken on
 * the clock as they leave. writer_busy: the owner's writer holds unsent bytes; nothing is sent
 * now and the frames stay queued. An owner of many voices calls sova_voice_pace for each first
 * (only the sends: the last voice's frames do not wait for the others' other work), then
 * sova_voice_tick with the same tick_ns, which does not send again. */
void sova_voice_tick(sova_voice *v, int64_t tick_ns, bool writer_busy);
void sova_voice_pace(sova_voice *v, int64_t tick_ns, bool writer_busy);
/* What the current step expects (grammar/keywords/open), for the recognizer. */
bool sova_voice_listen(sova_voice *v, const sova_stt_options *opt, char *err, size_t errlen);
/* The agent speaks: chunks as the model streams them; final ends the line. Returns the line's
 * turn number, 0 + err on failure. */
uint32_t sova_voice_say(sova_voice *v, const char *text, size_t len, bool final, char *err, size_t errlen);
/* The owner cancels the agent's lines (no INTERRUPTED; CLEAR when audio had gone out). The next
 * say() begins a new line. */
void sova_voice_cancel(sova_voice *v);
/* Frames go out only once answered (lines said before are synthesized ahead). */
void sova_voice_set_answered(sova_voice *v, bool answered);
/* On hold: recognition paused, the watcher looking for a voice (above, "Hold"). true again during
 * a probe ends the probe. */
void sova_voice_set_hold(sova_voice *v, bool on);
/* Whether the other party may interrupt from now on (off: an answering machine, which takes the
 * message whole; services.yaml's setting is the start). */
void sova_voice_set_barge_in(sova_voice *v, bool on);
void sova_voice_get_stats(const sova_voice *v, sova_voice_stats *out);
/* The engines' callbacks (the voice installs them on cfg->stt / cfg->tts; user = the voice). */
void sova_voice_stt_callback(void *user, const sova_stt_event *ev);
void sova_voice_tts_callback(void *user, const sova_tts_event *ev);
#endif
