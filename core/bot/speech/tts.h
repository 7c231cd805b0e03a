/* A streaming speech synthesizer, whatever the engine (core/bot/speech/): flite offline today,
 * Cartesia and ElevenLabs later, all behind this one vtable. Plain C, no lua.h.
 *
 * One turn of the agent: say() is called with each clause or token run as the model streams it,
 * the last with final=true; audio comes back through the callback in frames of config.frame_ms
 * at the engine's rate, with word or segment marks when the engine knows them, and DONE after
 * the final chunk's audio. cancel() drops the turn (barge-in): nothing more of it is delivered
 * and the next say() begins a new turn. close() ends the synthesizer, then free().
 *
 * Cloud engines deliver asynchronously (on their loop); flite delivers inside say(), on the
 * caller's thread. cancel() may be called from inside the callback or from another thread; from
 * another thread, at most the frame already in the callback completes. Misuse (NULL arguments,
 * empty text, say after close) returns false with a reason in err. */
#ifndef SOVA_SPEECH_TTS_H
#define SOVA_SPEECH_TTS_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
	SOVA_AUDIO_PCM16 = 1, /* signed 16-bit little-endian mono (flite; Cartesia pcm_s16le) */
	SOVA_AUDIO_MULAW,     /* G.711 μ-law, one byte a sample (Cartesia pcm_mulaw, ElevenLabs ulaw_8000) */
} sova_audio_encoding;

typedef enum {
	SOVA_TTS_AUDIO = 1, /* a frame: data, bytes, num_samples at sample_rate */
	SOVA_TTS_MARK,      /* text (a word or a segment) spans start_s..end_s of this turn's audio
	                       (Cartesia word_timestamps, ElevenLabs alignment) */
	SOVA_TTS_CHUNK_DONE, /* the audio of say() chunk number `chunk` is complete (Cartesia flush_done) */
	SOVA_TTS_DONE,      /* the turn's final chunk is complete (Cartesia done, ElevenLabs isFinal) */
	SOVA_TTS_ERROR,     /* text: "code: message" (Cartesia error title/message/error_code); the turn ends */
} sova_tts_event_kind;

typedef struct sova_tts_event {
	sova_tts_event_kind kind;
	const void *data; /* audio: borrowed for the callback */
	size_t bytes, num_samples;
	int sample_rate;
	sova_audio_encoding encoding;
	const char *text;       /* mark, error */
	double start_s, end_s;  /* mark: seconds from the start of this turn's audio */
	uint32_t turn;          /* which turn (a Cartesia context_id per turn) */
	uint32_t chunk;         /* which say() chunk of the turn, from 0 (Cartesia flush_id) */
} sova_tts_event;

typedef void (*sova_tts_callback)(void *user, const sova_tts_event *ev);

typedef struct sova_tts_config {
	const char *voice;            /* engine voice: "cmu_us_slt", "cmu_us_kal"; a Cartesia voice id */
	int sample_rate;              /* wanted output rate; 0: the voice's own. Engines refuse what they cannot make */
	sova_audio_encoding encoding; /* 0 means PCM16 */
	int frame_ms;                 /* audio frame length; 0 means 20 */
	const char *language;         /* "en"; NULL: the engine's default */
	const char *model;            /* Cartesia model_id, ElevenLabs model_id; NULL: the engine's default */
	bool whole_line;              /* wait for the final chunk and synthesize the line at once (for the benchmark's
	                                 comparison; calls stream clause by clause) */
} sova_tts_config;

typedef struct sova_tts sova_tts;

typedef struct sova_tts_vtable {
	const char *name; /* recorded with the session: "flite", "cartesia" */
	bool (*say)(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen);
	void (*cancel)(sova_tts *s); /* after the shared part set the cancelled flag */
	void (*close)(sova_tts *s);
	void (*destroy)(sova_tts *s);
} sova_tts_vtable;

/* The part every engine's synthesizer begins with. */
struct sova_tts {
	const sova_tts_vtable *vt;
	sova_tts_config config;
	sova_tts_callback callback;
	void *user;
	int sample_rate;       /* what the frames carry (the engine's rate) */
	atomic_bool cancelled; /* set by cancel() (any thread), cleared by the next turn's first say() */
	bool in_turn;          /* a say() without final came before, and no cancel() since */
	bool closed;
	uint32_t turn, chunk;  /* current turn and the next chunk's number */
};

/* Streams one chunk of the turn's text (UTF-8, len bytes, no NUL needed). Empty text is refused
 * unless final is true and the turn already has text (it just ends the turn). */
bool sova_tts_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen);
/* Stops the turn at once; safe to call with nothing playing, or from the callback. */
void sova_tts_cancel(sova_tts *s);
void sova_tts_close(sova_tts *s);
void sova_tts_free(sova_tts *s);
const char *sova_tts_name(const sova_tts *s);
int sova_tts_sample_rate(const sova_tts *s);

/* The clause rule every streaming path shares (the synthesizers, the voice handing them text):
 * where the first clause of s ends (after its , ; : . ! or ? followed by white space), or 0 when s
 * has no complete clause. Clause ends are ASCII, so a UTF-8 character is never split. */
size_t sova_tts_clause_end(const char *s, size_t len);
/* Whether s holds nothing but white space. */
bool sova_tts_blank(const char *s, size_t len);

/* For engines. */
void sova_tts_init_base(sova_tts *s, const sova_tts_vtable *vt, const sova_tts_config *cfg, sova_tts_callback cb, void *user);
/* Delivers ev unless the turn was cancelled; false when it was (the engine stops producing). */
bool sova_tts_emit(sova_tts *s, sova_tts_event *ev);
#endif
