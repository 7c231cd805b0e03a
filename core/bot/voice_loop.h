/* The bot's voice calls on the media thread (core/bot/voice_loop.c): each voice (core/bot/media/
 * voice.h) with its engines, its recording and the live socket it is attached to, driven by the
 * loop's 5 ms tick. Plain C. The functions here are called on the Lua thread: each checks its
 * arguments, copies what it needs and posts the work to the media thread (sova_loop_post), so
 * none waits. What happens comes back as SOVA_EV_VOICE events (kind "voice" in Lua) whose body is
 * a JSON object; its "type" is one of:
 *   ready {stt, tts}; speech_started (with probe = true on hold: the watcher suspects a voice,
 *   voice.h "Hold"); speech_stopped; interim {text}; final {text};
 *   end_of_turn {text, confidence}; agent_started {turn, stamps{speech_end, final_transcript,
 *   say_requested, first_audio, first_frame_out}} (monotonic ns); agent_done {turn};
 *   interrupted {turn, text, played_ms}; error {text, fatal}; closed {recording} (a spill id for
 *   the writer's "recording" op, or null).
 * On a socket attached as Twilio Media Streams (sova_voices_attach_twilio), also:
 *   stream_start {call_sid, stream_sid, account_sid, parameters = {customParameters}};
 *   dtmf {digit}; played {turn} (the mark after the turn's last frame came back: the callee heard
 *   all of it; marks Twilio returns because a clear emptied its buffer give none);
 *   stream_stop {} (a stop, or the socket dropped once its stream had started: the voice stays
 *   open and a new socket may attach, a reconnect with a new stream sid).
 *   Nothing goes out before the start gave the stream's sid. Malformed messages count as malformed
 *   frames: past the limit, error {fatal = true} and the socket is closed with 1008.
 *
 * Listeners (sova_voices_listener): sockets that hear the call, read-only. Each gets one text frame
 * {"type":"listen.ready","encoding":"pcm_s16le","sample_rate":<the voice's>,"channels":1,
 * "frame_ms":20}, then a binary frame every 20 ms in real time: PCM16LE of both sides mixed (the
 * recording's two channels added on their common timeline, SOVA_VOICE_LISTEN_DELAY_MS behind it).
 * Whatever a listener sends is dropped on the media thread: nothing of it reaches the voice or
 * Lua. A listener whose writer stays busy for 2 s is closed (1008); the call never waits for one. */
#ifndef SOVA_BOT_VOICE_LOOP_H
#define SOVA_BOT_VOICE_LOOP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bot/media/vad.h"
#include "bot/media/voice.h"
#include "bot/speech/stt.h"
#include "bot/speech/tts.h"

/* Which engine, and its settings; strings are the spec's (freed with it). */
typedef struct sova_voice_engine_spec {
	char *engine; /* "pocketsphinx", "deepgram" / "flite", "espeak", "cartesia", "elevenlabs" */
	char *model, *language, *voice, *base_url, *api_key;
} sova_voice_engine_spec;

typedef struct sova_voice_spec {
	sova_audio_encoding encoding; /* on the wire, both ways */
	int sample_rate;
	sova_voice_engine_spec stt, tts;
	sova_vad_kind vad;
	int min_silence_ms, max_silence_ms;
	bool barge_in;
	int barge_in_min_ms, barge_in_min_words;
	bool record;
} sova_voice_spec;

void sova_voice_spec_free(sova_voice_spec *s);

/* Lua thread, once the loop runs: spool_dir holds recordings until the writer stores them. */
bool sova_voices_init(const char *spool_dir, char *err, size_t errlen);
/* After the loop stopped: every voice and engine freed (their spills deleted). */
void sova_voices_shutdown(void);

/* Lua thread. new takes spec (also on failure) and returns the voice's id, 0 with err. */
long long sova_voices_new(sova_voice_spec *spec, char *err, size_t errlen);
/* The socket's binary frames are the voice's audio, in the socket's own format (converted when it
 * differs from the voice's: a browser switching to phone quality mid-call). */
bool sova_voices_attach(long long id, long long ws_id, sova_audio_encoding encoding, int rate, char *err, size_t errlen);
/* The socket speaks Twilio Media Streams: JSON text frames, μ-law 8 kHz (converted when the voice's
 * format differs). Each agent turn's last frame is followed by the mark "t<turn>"; barge-in and
 * cancel send clear. */
bool sova_voices_attach_twilio(long long id, long long ws_id, char *err, size_t errlen);
bool sova_voices_listen(long long id, const sova_stt_options *opt, char *err, size_t errlen);
bool sova_voices_say(long long id, const char *text, size_t len, bool final, char *err, size_t errlen);
bool sova_voices_cancel(long long id, char *err, size_t errlen);
bool sova_voices_answered(long long id, char *err, size_t errlen);
bool sova_voices_hold(long long id, bool on, char *err, size_t errlen);
bool sova_voices_barge_in(long long id, bool on, char *err, size_t errlen);
/* Listeners of one voice at most; how far behind the call they hear it (the far end's audio
 * arrives in frames of up to 100 ms, each placed where it began). */
#define SOVA_VOICE_MAX_LISTENERS 4
#define SOVA_VOICE_LISTEN_DELAY_MS 120
/* on: ws_id listens to the voice (its frames are dropped from now on); off: it no longer does (the
 * socket stays open). A socket that closes stops listening by itself. */
bool sova_voices_listener(long long id, long long ws_id, bool on, char *err, size_t errlen);
/* Any thread: every voice's frames out so far by lateness (sova_voice_stats.late_ms), at most a
 * second behind. */
void sova_voices_pacing(uint64_t out[SOVA_VOICE_LATE_BUCKETS]);
/* Ends the voice: the recording is finished and a "closed" event names its spill. */
bool sova_voices_close(long long id, char *err, size_t errlen);
#endif
