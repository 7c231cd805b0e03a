/* The espeak-ng synthesizer (tts_espeak.h): libespeak-ng 1.51 behind tts.h. */
#include "bot/speech/tts_espeak.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <espeak-ng/espeak_ng.h>

#include "bot/media/audio.h"

#define MAX_PENDING_TEXT (64 * 1024) /* one turn's text not yet synthesized */
#define MAX_VOICE_NAME 64
#define MAX_MARK_TEXT 128
#define DEFAULT_VOICE "en-us"
/* Input samples whose tail a resampler flush may return: more than speexdsp's filter delay at any
 * of our rates (quality 3, 22050 -> 8000 Hz: about 70). */
#define RESAMPLER_TAIL_INPUT 4096

typedef struct espeak_tts espeak_tts;

/* ---- the process-wide espeak-ng ---- */

static pthread_once_t espeak_once = PTHREAD_ONCE_INIT;
static espeak_ng_STATUS espeak_status; /* of the initialisation; read-only after it */
static int espeak_rate;                /* espeak-ng's output rate (22050 Hz); read-only after it */
/* Held for every call into espeak-ng after the initialisation: its voice, callback and output
 * are global, so one synthesis at a time in the whole process. */
static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static char espeak_voice[MAX_VOICE_NAME]; /* the voice espeak-ng has loaded ("" none); under espeak_lock */
static espeak_tts *synthesizing;          /* whose clause on_synth collects; under espeak_lock */

static int on_synth(short *wav, int n, espeak_EVENT *events);

static void init_espeak(void)
{
	espeak_ng_InitializePath(NULL); /* $ESPEAK_DATA_PATH, ~/espeak-ng-data, or the compiled-in Debian path */
	espeak_ng_ERROR_CONTEXT context = NULL;
	espeak_status = espeak_ng_Initialize(&context);
	if (context)
		espeak_ng_ClearErrorContext(&context);
	if (espeak_status == ENS_OK)
		espeak_status = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
	if (espeak_status == ENS_OK) {
		espeak_rate = espeak_ng_GetSampleRate();
		espeak_SetSynthCallback(on_synth);
	}
}

/* Loads voice into espeak-ng unless it is the one loaded. Holds espeak_lock. */
static espeak_ng_STATUS use_voice(const char *voice)
{
	if (strcmp(espeak_voice, voice) == 0)
		return ENS_OK;
	espeak_ng_STATUS st = espeak_ng_SetVoiceByName(voice);
	/* after a failure, what espeak-ng holds is unknown: the next use loads its voice again */
	snprintf(espeak_voice, sizeof espeak_voice, "%s", st == ENS_OK ? voice : "");
	return st;
}

/* ---- the synthesizer ---- */

typedef struct word_event { /* one espeakEVENT_WORD of the clause being spoken */
	int position, length;  /* in characters of the clause's text, from 1 */
	int start, end;        /* samples from the clause's start; end: where the next event begins (-1 until then) */
} word_event;

struct espeak_tts {
	sova_tts base;
	char voice[MAX_VOICE_NAME];
	sova_resampler *resampler; /* espeak_rate -> base.sample_rate (owned); NULL at espeak-ng's own rate */
	size_t frame_samples;      /* samples per frame at base.sample_rate */
	char *pending;             /* this turn's text not yet synthesized, as given (owned) */
	size_t pending_len, pending_cap;
	char *clause;              /* the clause being spoken, sanitised (owned) */
	size_t clause_cap;
	uint32_t *char_offsets;    /* byte offset of each character of `clause`, and its length last (owned) */
	size_t char_offsets_cap;
	int16_t *pcm;              /* the clause's audio at espeak_rate, collected by on_synth (owned) */
	size_t pcm_len, pcm_cap;
	word_event *words;         /* the clause's word events, collected by on_synth (owned) */
	size_t num_words, words_cap;
	bool out_of_memory;        /* on_synth could not keep what espeak-ng gave it */
	int16_t *out;              /* the clause's audio at base.sample_rate (owned) */
	size_t out_cap;
	int16_t *partial;          /* a frame not yet full: the start of the next clause's frame (owned) */
	size_t partial_len;
	uint8_t *mulaw;            /* one μ-law frame (owned; NULL for PCM16) */
	uint64_t turn_samples;     /* espeak_rate samples of this turn before the current clause: its marks' base */
};

/* Makes *buf hold at least need elements of size elem. */
static bool reserve(void **buf, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	void *p = realloc(*buf, n * elem);
	if (!p)
		return false;
	*buf = p;
	*cap = n;
	return true;
}

/* espeak-ng's synthesis callback: keeps the clause's audio and word events for say() to deliver
 * once espeak_lock is released. Returning 1 stops the synthesis at once (a cancel, or no memory);
 * espeak-ng is then ready for the next one, whoever's it is. */
static int on_synth(short *wav, int n, espeak_EVENT *events)
{
	espeak_tts *t = synthesizing;
	if (atomic_load(&t->base.cancelled) || t->out_of_memory)
		return 1;
	for (espeak_EVENT *ev = events; ev && ev->type != espeakEVENT_LIST_TERMINATED; ev++) {
		if (ev->type != espeakEVENT_WORD && ev->type != espeakEVENT_END && ev->type != espeakEVENT_MSG_TERMINATED)
			continue;
		if (t->num_words > 0 && t->words[t->num_words - 1].end < 0)
			t->words[t->num_words - 1].end = ev->sample;
		if (ev->type != espeakEVENT_WORD)
			continue;
		if (!reserve((void **)&t->words, &t->words_cap, t->num_words + 1, sizeof *t->words)) {
			t->out_of_memory = true;
			return 1;
		}
		t->words[t->num_words++] =
			(word_event){.position = ev->text_position, .length = ev->length, .start = ev->sample, .end = -1};
	}
	if (wav && n > 0) {
		if (!reserve((void **)&t->pcm, &t->pcm_cap, t->pcm_len + (size_t)n, sizeof *t->pcm)) {
			t->out_of_memory = true;
			return 1;
		}
		memcpy(t->pcm + t->pcm_len, wav, (size_t)n * sizeof *wav);
		t->pcm_len += (size_t)n;
	}
	return 0;
}

/* One well-formed UTF-8 sequence of 2 to 4 bytes at s: its length, or 0 (a lone continuation
 * byte, an overlong form, a surrogate, beyond U+10FFFF, or cut short). */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
	size_t k = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
	if (k == 0 || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) || (s[0] == 0xF0 && s[1] < 0x90) ||
	    (s[0] == 0xF4 && s[1] >= 0x90))
		return 0;
	return k;
}

/* Copies n bytes of text into t->clause as espeak-ng is to read them: tabs and line breaks become
 * spaces; other control characters (C0, DEL, C1) and invalid UTF-8 are dropped. So the
 * characters espeak-ng counts in its events are exactly the clause's. Returns the length. */
static size_t sanitise(espeak_tts *t, const char *text, size_t n)
{
	const unsigned char *in = (const unsigned char *)text;
	char *out = t->clause;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (in[i] < 0x80) {
			if (in[i] == '\t' || in[i] == '\n' || in[i] == '\r')
				out[o++] = ' ';
			else if (in[i] >= 0x20 && in[i] != 0x7F)
				out[o++] = (char)in[i];
			i++;
			continue;
		}
		size_t k = utf8_sequence(in + i, n - i);
		if (k == 0) {
			i++;
			continue;
		}
		if (!(k == 2 && in[i] == 0xC2 && in[i + 1] < 0xA0)) { /* U+0080..U+009F are C1 controls */
			memcpy(out + o, in + i, k);
			o += k;
		}
		i += k;
	}
	out[o] = '\0';
	return o;
}

/* Synthesizes t->clause (len bytes) into t->pcm and t->words under espeak_lock. False when
 * cancelled (err empty) or on failure (err says why). */
static bool synthesize(espeak_tts *t, size_t len, char *err, size_t errlen)
{
	t->pcm_len = 0;
	t->num_words = 0;
	t->out_of_memory = false;
	if (pthread_mutex_lock(&espeak_lock) != 0) {
		snprintf(err, errlen, "espeak: cannot take the synthesis lock");
		return false;
	}
	espeak_ng_STATUS st = use_voice(t->voice);
	if (st == ENS_OK) {
		synthesizing = t;
		/* espeakENDPAUSE: each clause ends with its punctuation's pause, so a line streamed clause by
		 * clause keeps the pauses it has spoken whole. No espeakSSML, no espeakPHONEMES: literal text. */
		st = espeak_ng_Synthesize(t->clause, len + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8 | espeakENDPAUSE, NULL, NULL);
		synthesizing = NULL;
	}
	pthread_mutex_unlock(&espeak_lock);
	if (atomic_load(&t->base.cancelled))
		return false;
	if (t->out_of_memory) {
		snprintf(err, errlen, "espeak: out of memory");
		return false;
	}
	if (st != ENS_OK) {
		char why[160];
		espeak_ng_GetStatusCodeMessage(st, why, sizeof why);
		snprintf(err, errlen, "espeak: synthesis failed: %s", why);
		return false;
	}
	for (size_t i = 0; i < t->num_words; i++) { /* the last word ends with the clause's audio */
		word_event *w = &t->words[i];
		if (w->end < 0 || (size_t)w->end > t->pcm_len)
			w->end = (int)t->pcm_len;
		if (w->start < 0 || w->start > w->end)
			w->start = w->end;
	}
	return true;
}

/* Byte offset in the clause of character `position` (from 1, as espeak-ng counts). */
static size_t byte_at(const espeak_tts *t, size_t num_chars, int position)
{
	if (position < 1)
		return 0;
	return t->char_offsets[(size_t)position - 1 < num_chars ? (size_t)position - 1 : num_chars];
}

/* Edges a mark's text is trimmed of: spaces and ASCII punctuation ("Hello," is "Hello"). */
static bool edge(char c)
{
	return c == ' ' || (c > ' ' && c < 0x7F && !(c >= '0' && c <= '9') && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z'));
}

static bool emit_mark(espeak_tts *t, const char *text, size_t len, int start, int end)
{
	char word[MAX_MARK_TEXT];
	if (len >= sizeof word) { /* cut on a character boundary */
		len = sizeof word - 1;
		while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
	}
	memcpy(word, text, len);
	word[len] = '\0';
	sova_tts_event ev = {.kind = SOVA_TTS_MARK, .text = word, .start_s = (double)(t->turn_samples + (uint64_t)start) / espeak_rate,
			     .end_s = (double)(t->turn_samples + (uint64_t)end) / espeak_rate, .chunk = t->base.chunk};
	return sova_tts_emit(&t->base, &ev);
}

/* The clause's word marks, in order. espeak-ng's word events give a position and a length in
 * characters, but the length may fall short ("don't" is 3) and a number may give several events
 * ("25": one at "2", one at "5"), so a word's text runs from its position to the next event's
 * (never back into the previous word), trimmed of spaces and punctuation; an event left with no
 * text ("$", "5") lends its time to the word before. False once cancelled. */
static bool emit_marks(espeak_tts *t, size_t len)
{
	if (t->num_words == 0)
		return true;
	size_t num_chars = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)t->clause[i] & 0xC0) != 0x80)
			t->char_offsets[num_chars++] = (uint32_t)i;
	t->char_offsets[num_chars] = (uint32_t)len;
	size_t taken = 0;                    /* bytes already in a mark */
	size_t held_from = 0, held_to = 0;   /* the mark not yet emitted: its text... */
	int held_start = 0, held_end = 0;    /* ...and samples */
	bool holding = false;
	for (size_t i = 0; i < t->num_words; i++) {
		const word_event *w = &t->words[i];
		size_t from = byte_at(t, num_chars, w->position), to = byte_at(t, num_chars, w->position + w->length);
		size_t next = i + 1 < t->num_words ? byte_at(t, num_chars, t->words[i + 1].position) : len;
		if (next > to)
			to = next;
		if (from < taken)
			from = taken;
		while (from < to && edge(t->clause[from]))
			from++;
		while (to > from && edge(t->clause[to - 1]))
			to--;
		if (from >= to) {
			if (holding && w->end > held_end)
				held_end = w->end;
			continue;
		}
		if (holding && !emit_mark(t, t->clause + held_from, held_to - held_from, held_start, held_end))
			return false;
		held_from = from, held_to = to, held_start = w->start, held_end = w->end;
		holding = true;
		taken = to;
	}
	return !holding || emit_mark(t, t->clause + held_from, held_to - held_from, held_start, held_end);
}

/* One frame of base.sample_rate samples, in the configured encoding. False once cancelled. */
static bool emit_frame(espeak_tts *t, const int16_t *samples)
{
	size_t fs = t->frame_samples;
	sova_tts_event ev = {.kind = SOVA_TTS_AUDIO, .data = samples, .bytes = fs * sizeof *samples, .num_samples = fs,
			     .sample_rate = t->base.sample_rate, .encoding = SOVA_AUDIO_PCM16, .chunk = t->base.chunk};
	if (t->mulaw) {
		sova_mulaw_encode_frame(samples, fs, t->mulaw);
		ev.data = t->mulaw;
		ev.bytes = fs;
		ev.encoding = SOVA_AUDIO_MULAW;
	}
	return sova_tts_emit(&t->base, &ev);
}

/* Delivers whole frames from the samples (at base.sample_rate); keeps the rest in `partial`.
 * False once cancelled. */
static bool deliver(espeak_tts *t, const int16_t *samples, size_t n)
{
	size_t fs = t->frame_samples;
	while (n > 0) {
		size_t take = fs - t->partial_len < n ? fs - t->partial_len : n;
		memcpy(t->partial + t->partial_len, samples, take * sizeof *samples);
		t->partial_len += take;
		samples += take;
		n -= take;
		if (t->partial_len < fs)
			break;
		t->partial_len = 0;
		if (!emit_frame(t, t->partial))
			return false;
	}
	return true;
}

/* Resamples n samples at espeak_rate (or, with in == NULL, the resampler's tail at the end of the
 * turn) and delivers them. False when cancelled (err empty) or on failure. */
static bool resample_and_deliver(espeak_tts *t, const int16_t *in, size_t n, char *err, size_t errlen)
{
	if (!t->resampler)
		return deliver(t, in, n);
	size_t need = sova_resampler_out_max(t->resampler, in ? n : RESAMPLER_TAIL_INPUT);
	if (!reserve((void **)&t->out, &t->out_cap, need, sizeof *t->out)) {
		snprintf(err, errlen, "espeak: out of memory");
		return false;
	}
	size_t got = 0;
	int rc = in ? sova_resampler_process(t->resampler, in, n, t->out, t->out_cap, &got)
		    : sova_resampler_flush(t->resampler, t->out, t->out_cap, &got);
	if (rc != 0) {
		snprintf(err, errlen, "espeak: resampling to %d Hz failed", t->base.sample_rate);
		return false;
	}
	return deliver(t, t->out, got);
}

/* Speaks one clause (len bytes of text, not NUL-terminated): its word marks, then its audio.
 * False when cancelled (err empty) or on failure (err says why). */
static bool speak(espeak_tts *t, const char *text, size_t len, char *err, size_t errlen)
{
	if (!reserve((void **)&t->clause, &t->clause_cap, len + 1, 1) ||
	    !reserve((void **)&t->char_offsets, &t->char_offsets_cap, len + 1, sizeof *t->char_offsets)) {
		snprintf(err, errlen, "espeak: out of memory");
		return false;
	}
	size_t n = sanitise(t, text, len);
	if (n == 0)
		return true; /* nothing speakable: only control characters */
	if (!synthesize(t, n, err, errlen) || !emit_marks(t, n))
		return false;
	t->turn_samples += t->pcm_len;
	return resample_and_deliver(t, t->pcm, t->pcm_len, err, errlen);
}

/* The end of the turn: the resampler's tail, then the last frame padded with silence. */
static bool finish_turn(espeak_tts *t, char *err, size_t errlen)
{
	if (t->resampler && !resample_and_deliver(t, NULL, 0, err, errlen))
		return false;
	if (t->partial_len == 0)
		return true;
	memset(t->partial + t->partial_len, 0, (t->frame_samples - t->partial_len) * sizeof *t->partial);
	t->partial_len = 0;
	return emit_frame(t, t->partial);
}

static bool append_pending(espeak_tts *t, const char *text, size_t len, char *err, size_t errlen)
{
	if (t->pending_len + len > MAX_PENDING_TEXT) {
		snprintf(err, errlen, "espeak: more than %d bytes of unspoken text in one turn", MAX_PENDING_TEXT);
		return false;
	}
	if (!reserve((void **)&t->pending, &t->pending_cap, t->pending_len + len + 1, 1)) {
		snprintf(err, errlen, "espeak: out of memory");
		return false;
	}
	memcpy(t->pending + t->pending_len, text, len);
	t->pending_len += len;
	t->pending[t->pending_len] = '\0';
	return true;
}

/* Speaks and removes complete clauses from pending (all of it when final). */
static bool speak_pending(espeak_tts *t, bool final, char *err, size_t errlen)
{
	for (;;) {
		size_t end = t->base.config.whole_line ? 0 : sova_tts_clause_end(t->pending, t->pending_len);
		if (end == 0) {
			if (!final)
				return true;
			end = t->pending_len;
		}
		if (end == 0)
			return true;
		bool ok = sova_tts_blank(t->pending, end) || speak(t, t->pending, end, err, errlen);
		memmove(t->pending, t->pending + end, t->pending_len - end + 1);
		t->pending_len -= end;
		if (!ok)
			return false;
	}
}

/* A new turn: what a cancelled turn left behind (text, a part frame, the resampler's state) goes. */
static bool start_turn(espeak_tts *t, char *err, size_t errlen)
{
	t->pending_len = 0;
	t->partial_len = 0;
	t->turn_samples = 0;
	if (!t->resampler)
		return true;
	size_t need = sova_resampler_out_max(t->resampler, RESAMPLER_TAIL_INPUT), got = 0;
	if (!reserve((void **)&t->out, &t->out_cap, need, sizeof *t->out)) {
		snprintf(err, errlen, "espeak: out of memory");
		return false;
	}
	if (sova_resampler_flush(t->resampler, t->out, t->out_cap, &got) != 0) { /* flushing resets it */
		snprintf(err, errlen, "espeak: resetting the resampler failed");
		return false;
	}
	return true;
}

static bool espeak_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	espeak_tts *t = (espeak_tts *)s;
	err[0] = '\0';
	if (s->chunk == 0 && !start_turn(t, err, errlen))
		return false;
	if (!append_pending(t, text, len, err, errlen))
		return false;
	if (!speak_pending(t, final, err, errlen) || (final && !finish_turn(t, err, errlen))) {
		if (err[0]) {
			sova_tts_event ev = {.kind = SOVA_TTS_ERROR, .text = err, .chunk = s->chunk};
			sova_tts_emit(s, &ev);
			return false;
		}
		return true; /* cancelled: not an error */
	}
	if (t->pending_len == 0 || sova_tts_blank(t->pending, t->pending_len)) {
		sova_tts_event ev = {.kind = SOVA_TTS_CHUNK_DONE, .chunk = s->chunk};
		if (!sova_tts_emit(s, &ev))
			return true;
	}
	if (final) {
		sova_tts_event ev = {.kind = SOVA_TTS_DONE, .chunk = s->chunk};
		sova_tts_emit(s, &ev);
	}
	return true;
}

/* Nothing to do at once: on_synth sees the flag and stops espeak-ng's synthesis, say() checks it
 * between frames and clauses. espeak_Cancel is not called: it is global, and the synthesis running
 * may be another engine's. */
static void espeak_cancel(sova_tts *s) { (void)s; }

static void espeak_close(sova_tts *s)
{
	espeak_tts *t = (espeak_tts *)s;
	sova_resampler_free(t->resampler);
	free(t->pending);
	free(t->clause);
	free(t->char_offsets);
	free(t->pcm);
	free(t->words);
	free(t->out);
	free(t->partial);
	free(t->mulaw);
	t->resampler = NULL;
	t->pending = t->clause = NULL;
	t->char_offsets = NULL;
	t->pcm = t->out = t->partial = NULL;
	t->words = NULL;
	t->mulaw = NULL;
}

static void espeak_destroy(sova_tts *s) { free(s); }

static const sova_tts_vtable ESPEAK_VTABLE = {
	.name = "espeak", .say = espeak_say, .cancel = espeak_cancel, .close = espeak_close, .destroy = espeak_destroy};

/* The voice's name, checked and loaded once: so an unknown voice is refused here, not mid-call. */
static bool check_voice(const char *name, char *err, size_t errlen)
{
	if (strlen(name) == 0 || strlen(name) >= MAX_VOICE_NAME || strpbrk(name, "/\\")) {
		snprintf(err, errlen, "espeak: \"%.80s\" is not an espeak-ng voice name (en-us, en, en-us+f3, fr...)", name);
		return false;
	}
	if (pthread_mutex_lock(&espeak_lock) != 0) {
		snprintf(err, errlen, "espeak: cannot take the synthesis lock");
		return false;
	}
	espeak_ng_STATUS st = use_voice(name);
	pthread_mutex_unlock(&espeak_lock);
	if (st != ENS_OK) {
		char why[160];
		espeak_ng_GetStatusCodeMessage(st, why, sizeof why);
		snprintf(err, errlen, "espeak: no voice %s (%s; `espeak-ng --voices` lists them: en-us, en, fr...)", name, why);
		return false;
	}
	return true;
}

/* Frame samples at rate for frame_ms, or 0 when the rate or length cannot be given. */
static size_t frame_samples(int rate, int frame_ms)
{
	if (rate == espeak_rate) /* 22.05 samples a millisecond: whole frames every 20 ms */
		return frame_ms >= SOVA_FRAME_MIN_MS && frame_ms <= SOVA_FRAME_MAX_MS && frame_ms % 20 == 0
			       ? (size_t)rate * (size_t)frame_ms / 1000
			       : 0;
	return sova_frame_samples(rate, frame_ms);
}

sova_tts *sova_tts_espeak_new(const sova_tts_config *config, sova_tts_callback cb, void *user, char *err, size_t errlen)
{
	if (!config || !cb) {
		snprintf(err, errlen, "espeak: missing %s", !config ? "config" : "callback");
		return NULL;
	}
	if (pthread_once(&espeak_once, init_espeak) != 0 || espeak_status != ENS_OK) {
		char why[160] = "pthread_once failed";
		if (espeak_status != ENS_OK)
			espeak_ng_GetStatusCodeMessage(espeak_status, why, sizeof why);
		snprintf(err, errlen, "espeak: cannot initialise espeak-ng (%s; its data is package espeak-ng-data, or $ESPEAK_DATA_PATH/espeak-ng-data)", why);
		return NULL;
	}
	const char *voice = config->voice                                            ? config->voice
			    : config->language && strncmp(config->language, "en", 2) != 0 ? config->language
										     : DEFAULT_VOICE;
	int rate = config->sample_rate ? config->sample_rate : espeak_rate;
	if (rate != espeak_rate && !sova_audio_rate_ok(rate)) {
		snprintf(err, errlen, "espeak: cannot give %d Hz (espeak-ng speaks at %d Hz, resampled to 8000, 16000 or 48000)",
			 config->sample_rate, espeak_rate);
		return NULL;
	}
	if (config->encoding != 0 && config->encoding != SOVA_AUDIO_PCM16 && config->encoding != SOVA_AUDIO_MULAW) {
		snprintf(err, errlen, "espeak: unknown encoding %d (PCM16 or μ-law)", (int)config->encoding);
		return NULL;
	}
	int frame_ms = config->frame_ms ? config->frame_ms : 20;
	size_t fs = frame_samples(rate, frame_ms);
	if (fs == 0) {
		snprintf(err, errlen, "espeak: no %d ms frames at %d Hz (%d to %d ms%s)", frame_ms, rate, SOVA_FRAME_MIN_MS,
			 SOVA_FRAME_MAX_MS, rate == espeak_rate ? ", a multiple of 20 at espeak-ng's own rate" : "");
		return NULL;
	}
	if (!check_voice(voice, err, errlen))
		return NULL;
	espeak_tts *t = calloc(1, sizeof *t);
	if (!t) {
		snprintf(err, errlen, "espeak: out of memory");
		return NULL;
	}
	sova_tts_init_base(&t->base, &ESPEAK_VTABLE, config, cb, user);
	snprintf(t->voice, sizeof t->voice, "%s", voice);
	t->base.sample_rate = rate;
	t->frame_samples = fs;
	t->partial = malloc(fs * sizeof *t->partial);
	bool ok = t->partial != NULL;
	if (ok && t->base.config.encoding == SOVA_AUDIO_MULAW)
		ok = (t->mulaw = malloc(fs)) != NULL;
	if (!ok)
		snprintf(err, errlen, "espeak: out of memory");
	if (ok && rate != espeak_rate) {
		char why[160];
		ok = (t->resampler = sova_resampler_new(espeak_rate, rate, why, sizeof why)) != NULL;
		if (!ok)
			snprintf(err, errlen, "espeak: %s", why);
	}
	if (!ok) {
		espeak_close(&t->base);
		free(t);
		return NULL;
	}
	return &t->base;
}
