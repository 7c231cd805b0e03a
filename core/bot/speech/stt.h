/* A streaming speech recognizer, whatever the engine (core/bot/speech/): pocketsphinx offline
 * today, Deepgram (and AssemblyAI) later, all behind this one vtable. Plain C, no lua.h.
 *
 * Life of a recognizer: create (engine-specific constructor), then start(options) once per
 * stretch of listening (per flow node: the options say which words to expect), feed() the
 * other party's audio in any frame size, finalize() to flush what was heard so far now
 * (Deepgram's Finalize), close() to end the stream (nothing more is accepted or delivered; the
 engine's resources go), then free(). Events arrive through the callback, on the
 * thread that called feed/finalize/start; text in an event is valid only during the callback.
 *
 * One recognizer is used by one thread at a time. Misuse (a NULL argument, feed before start
 * or after close) returns false with a reason in err; it never crashes. */
#ifndef SOVA_SPEECH_STT_H
#define SOVA_SPEECH_STT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOVA_SPEECH_CONFIDENCE_UNKNOWN (-1.0f)

typedef enum {
	SOVA_STT_SPEECH_STARTED = 1, /* at_s: where speech began (Deepgram SpeechStarted.timestamp) */
	SOVA_STT_INTERIM,            /* text may still change (Deepgram Results, is_final false) */
	SOVA_STT_FINAL,              /* text of a segment that will not change (is_final true) */
	SOVA_STT_UTTERANCE_END,      /* the other party stopped; at_s: end of the last word (UtteranceEnd.last_word_end) */
	SOVA_STT_PHRASES_DROPPED,    /* text: expected phrases the engine cannot recognize, "|"-separated (words it does not know) */
	SOVA_STT_METADATA,           /* request_id, model: what the provider says about the stream (Deepgram Metadata) */
	SOVA_STT_ERROR,              /* text: "code: message"; the recognizer stops listening (a dropped provider socket) */
} sova_stt_event_kind;

typedef struct sova_stt_word {
	const char *word;            /* as recognized, lowercase */
	const char *punctuated_word; /* NULL when the engine does not punctuate */
	double start_s, end_s;       /* seconds of stream audio since the first feed */
	float confidence;            /* 0..1 or SOVA_SPEECH_CONFIDENCE_UNKNOWN */
} sova_stt_word;

typedef struct sova_stt_event {
	sova_stt_event_kind kind;
	const char *text;          /* interim/final transcript, dropped phrases, or error */
	float confidence;          /* final/interim: 0..1 or SOVA_SPEECH_CONFIDENCE_UNKNOWN */
	double start_s, duration_s; /* interim/final: the segment within the stream (Results start, duration) */
	double at_s;               /* speech started / utterance end: see the kinds */
	bool speech_final;         /* final: the endpointer heard the end of speech (speech_final) */
	bool from_finalize;        /* final: produced by finalize() (from_finalize) */
	const sova_stt_word *words; /* final (and interim when known): num_words entries, else NULL */
	size_t num_words;
	const char *request_id, *model; /* metadata; NULL otherwise */
} sova_stt_event;

typedef void (*sova_stt_callback)(void *user, const sova_stt_event *ev);

typedef enum {
	SOVA_STT_SEARCH_OPEN = 1, /* anything (pocketsphinx: the full language model; cloud: the default model); its
	                             phrases, if any, are hints (pocketsphinx: spotted in each utterance again, put in
	                             place of the words that sound like them; cloud: keyterms) */
	SOVA_STT_SEARCH_GRAMMAR,  /* exactly one of the phrases (pocketsphinx: JSGF; cloud: phrases become keyterms) */
	SOVA_STT_SEARCH_KEYWORDS, /* spot the phrases anywhere in speech (pocketsphinx: keyword list; cloud: keyterms) */
} sova_stt_search;

/* What the current node expects. Phrases are words separated by spaces; in a grammar the
 * tokens <digits> and <letters> stand for one or more spoken digits ("one", "oh") or letters,
 * <digit> and <letter> for exactly one (a code of known length is more reliable that way). */
typedef struct sova_stt_options {
	sova_stt_search search;
	const char *const *phrases; /* borrowed for the call; engines copy what they keep */
	size_t num_phrases;
	bool interim_results;       /* emit SOVA_STT_INTERIM events (Deepgram interim_results) */
	bool sequence;              /* grammar: a run of one or more of the phrases, so a natural sentence made
	                               of the step's expected fragments and common words is heard (cloud: no effect) */
} sova_stt_options;

/* Fixed at creation, as a cloud provider takes them when the stream opens. */
typedef struct sova_stt_config {
	int sample_rate;         /* of the PCM16 mono frames given to feed() */
	int endpointing_ms;      /* silence that ends speech (Deepgram endpointing); 0: the engine's default */
	int utterance_end_ms;    /* gap after the last word before UTTERANCE_END (utterance_end_ms); 0: default */
	const char *language;    /* "en"; NULL: the engine's default */
} sova_stt_config;

typedef struct sova_stt sova_stt;

/* What an engine implements. The sova_stt_* wrappers below check the arguments and the state
 * shared by every engine before calling these, so an engine sees only valid calls. */
typedef struct sova_stt_vtable {
	const char *name; /* recorded with the session: "pocketsphinx", "deepgram" */
	bool (*start)(sova_stt *r, const sova_stt_options *opt, char *err, size_t errlen);
	bool (*feed)(sova_stt *r, const int16_t *pcm, size_t n, char *err, size_t errlen);
	bool (*finalize)(sova_stt *r, char *err, size_t errlen);
	void (*close)(sova_stt *r);   /* releases the engine's resources; delivers nothing */
	void (*destroy)(sova_stt *r); /* frees the engine's struct (after close) */
} sova_stt_vtable;

/* The part every engine's recognizer begins with. */
struct sova_stt {
	const sova_stt_vtable *vt;
	sova_stt_config config;
	sova_stt_callback callback;
	void *user;
	bool started; /* start() succeeded at least once */
	bool closed;  /* close() ran: every call but free is refused */
};

/* Begins (or switches) listening: speech heard under earlier options is finalized first. */
bool sova_stt_start(sova_stt *r, const sova_stt_options *opt, char *err, size_t errlen);
/* n samples of PCM16 mono at config.sample_rate; n may be 0. */
bool sova_stt_feed(sova_stt *r, const int16_t *pcm, size_t n, char *err, size_t errlen);
/* Flushes now: a FINAL (from_finalize) for what was heard, then UTTERANCE_END if there was speech. */
bool sova_stt_finalize(sova_stt *r, char *err, size_t errlen);
/* Ends the stream; no event is delivered afterwards and later calls are refused. */
void sova_stt_close(sova_stt *r);
/* Closes r if needed and frees it (NULL is fine). */
void sova_stt_free(sova_stt *r);
const char *sova_stt_name(const sova_stt *r);

/* For engines: fills the shared part. */
void sova_stt_init_base(sova_stt *r, const sova_stt_vtable *vt, const sova_stt_config *cfg, sova_stt_callback cb, void *user);
#endif
