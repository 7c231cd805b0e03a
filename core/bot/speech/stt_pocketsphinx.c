/* The offline recognizer (stt_pocketsphinx.h): pocketsphinx 0.8+5prealpha behind stt.h.
 *
 * Each recognizer owns one decoder. pocketsphinx's own endpointer (ps_get_in_speech, its
 * built-in VAD) ends an utterance: a FINAL with speech_final, then UTTERANCE_END, and the next
 * utterance starts under the same options. sphinxbase logs through one process-wide callback;
 * it keeps the last error per thread so failures are reported with pocketsphinx's reason. */
#include "bot/speech/stt_pocketsphinx.h"
#include "util/sbuf.h"

#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/fsg_model.h>
#include <sphinxbase/jsgf.h>
#include <sphinxbase/logmath.h>
#include <sphinxbase/ngram_model.h>

#define PS_RATE 16000
#define PS_FRAMES_PER_SECOND 100.0 /* -frate's default */
#define INTERIM_EVERY_SAMPLES (PS_RATE / 4)
/* The cepstral mean warm-up (see "the cepstral mean" below): frames of the stream's own speech
 * the mean is taken from before the first utterance is decoded again with it, audio kept before
 * speech, and the longest utterance kept for it or for the hint pass (a longer one is decoded
 * once, as it came). */
#define WARMUP_FRAMES 100
#define WARMUP_PRESPEECH_SAMPLES (PS_RATE / 2)
#define UTT_AUDIO_MAX_SAMPLES (PS_RATE * 30)
/* How far (Euclidean, cepstral units) the stream's own mean may lie from the model's start mean
 * for the start to be kept. Measured on flite voices: 29-36 where the first line was heard under
 * the start mean (slt at 16 kHz), 77-81 where it was lost (slt through 8 kHz μ-law, kal at 16 kHz). */
#define START_MEAN_FITS 55.0

/* ---- sphinxbase's log: silent, but the last error is kept per thread ---- */

static _Thread_local char last_error[256];
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void keep_errors(void *user, err_lvl_t lvl, const char *fmt, ...)
{
	(void)user;
	if (lvl < ERR_ERROR || strncmp(fmt, "%s: %s(%ld): ", 13) == 0) /* the "ERROR: file(line): " prefix */
		return;
	char msg[sizeof last_error];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	msg[strcspn(msg, "\n")] = '\0';
	if (msg[0])
		snprintf(last_error, sizeof last_error, "%s", msg);
}

/* err_set_logfp(NULL) first: cmd_ln_init prints its whole configuration to the log file otherwise. */
static void install_log(void)
{
	err_set_logfp(NULL);
	err_set_callback(keep_errors, NULL);
}

static void ps_fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "pocketsphinx: %s%s%s", what, last_error[0] ? ": " : "", last_error);
	last_error[0] = '\0';
}

/* ---- the shared model: paths and our copy of the dictionary ---- */

typedef struct dict_entry {
	const char *word;   /* base word, lowercase, "(2)" removed; points into text */
	const char *phones; /* points into text */
	int variant;        /* 1 for the first pronunciation, 2 for "word(2)", ... */
} dict_entry;

struct sova_ps_model {
	char hmm[1024], dict_path[1024], lm_path[1024];
	char *text;          /* the dictionary file, split in place (owned) */
	dict_entry *entries; /* sorted by word then variant (owned) */
	size_t num_entries;
};

static int entry_cmp(const void *a, const void *b)
{
	const dict_entry *x = a, *y = b;
	int c = strcmp(x->word, y->word);
	return c ? c : x->variant - y->variant;
}

/* The first entry (variant 1 or the lowest) of word, or NULL. */
static const dict_entry *lookup(const sova_ps_model *m, const char *word)
{
	size_t lo = 0, hi = m->num_entries;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(m->entries[mid].word, word) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->num_entries && strcmp(m->entries[lo].word, word) == 0 ? &m->entries[lo] : NULL;
}

bool sova_ps_model_knows(const sova_ps_model *m, const char *word) { return m && word && lookup(m, word) != NULL; }

static bool read_file(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "pocketsphinx: cannot open %s: %s", path, strerror(errno));
		return false;
	}
	char *buf = NULL;
	long n = -1;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0)
		buf = malloc((size_t)n + 1);
	bool ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
	fclose(f);
	if (!ok) {
		free(buf);
		snprintf(err, errlen, "pocketsphinx: cannot read %s", path);
		return false;
	}
	buf[n] = '\0';
	*out = buf;
	return true;
}

/* Splits "word(2) PH ONES\n" lines in place. */
static bool parse_dict(sova_ps_model *m, char *err, size_t errlen)
{
	size_t lines = 1;
	for (const char *p = m->text; *p; p++)
		lines += *p == '\n';
	m->entries = malloc(lines * sizeof *m->entries);
	if (!m->entries) {
		snprintf(err, errlen, "pocketsphinx: out of memory for the dictionary");
		return false;
	}
	char *p = m->text;
	while (*p) {
		char *eol = strchr(p, '\n');
		char *next = eol ? eol + 1 : p + strlen(p);
		if (eol)
			*eol = '\0';
		char *sp = strpbrk(p, " \t");
		if (sp && sp > p) {
			*sp = '\0';
			char *phones = sp + 1;
			while (*phones == ' ' || *phones == '\t')
				phones++;
			phones[strcspn(phones, "\r#")] = '\0'; /* cmudict may carry "# comment" after a pronunciation */
			size_t plen = strlen(phones);
			while (plen && phones[plen - 1] == ' ')
				phones[--plen] = '\0';
			int variant = 1;
			char *paren = strchr(p, '(');
			if (paren && paren > p) {
				variant = atoi(paren + 1);
				*paren = '\0';
			}
			if (plen && variant > 0)
				m->entries[m->num_entries++] = (dict_entry){p, phones, variant};
		}
		p = next;
	}
	qsort(m->entries, m->num_entries, sizeof *m->entries, entry_cmp);
	return true;
}

static bool exists(const char *path, bool dir)
{
	struct stat st;
	return stat(path, &st) == 0 && (dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

sova_ps_model *sova_ps_model_load(const char *dir, char *err, size_t errlen)
{
	pthread_once(&log_once, install_log);
	if (!dir || !dir[0])
		dir = getenv(SOVA_POCKETSPHINX_MODEL_ENV);
	if (!dir || !dir[0])
		dir = SOVA_POCKETSPHINX_MODEL_DIR;
	sova_ps_model *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "pocketsphinx: out of memory");
		return NULL;
	}
	snprintf(m->hmm, sizeof m->hmm, "%s/en-us", dir);
	snprintf(m->dict_path, sizeof m->dict_path, "%s/cmudict-en-us.dict", dir);
	snprintf(m->lm_path, sizeof m->lm_path, "%s/en-us.lm.bin", dir);
	const char *missing = !exists(m->hmm, true) ? m->hmm : !exists(m->dict_path, false) ? m->dict_path
							    : !exists(m->lm_path, false)    ? m->lm_path
											    : NULL;
	if (missing) {
		snprintf(err, errlen, "pocketsphinx: no model at %s (install pocketsphinx-en-us or set %s)", missing,
			 SOVA_POCKETSPHINX_MODEL_ENV);
		free(m);
		return NULL;
	}
	if (!read_file(m->dict_path, &m->text, err, errlen) || !parse_dict(m, err, errlen)) {
		sova_ps_model_free(m);
		return NULL;
	}
	if (m->num_entries == 0) {
		snprintf(err, errlen, "pocketsphinx: %s has no pronunciations", m->dict_path);
		sova_ps_model_free(m);
		return NULL;
	}
	return m;
}

void sova_ps_model_free(sova_ps_model *m)
{
	if (!m)
		return;
	free(m->entries);
	free(m->text);
	free(m);
}

/* ---- phrases: words, classes, JSGF ---- */

static const char *const DIGIT_WORDS[] = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
static const char *const LETTER_WORDS[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
					   "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z"};
#define NUM_DIGIT_WORDS (sizeof DIGIT_WORDS / sizeof *DIGIT_WORDS)
#define NUM_LETTER_WORDS (sizeof LETTER_WORDS / sizeof *LETTER_WORDS)

typedef enum { TOKEN_WORD, TOKEN_DIGITS, TOKEN_LETTERS, TOKEN_DIGIT, TOKEN_LETTER } token_kind;

static const struct { const char *name; token_kind kind; } CLASS_TOKENS[] = {
	{"<digits>", TOKEN_DIGITS}, {"<letters>", TOKEN_LETTERS}, {"<digit>", TOKEN_DIGIT}, {"<letter>", TOKEN_LETTER}};

/* The next token of a phrase, lowercased into out (cut at outlen), edge punctuation trimmed
 * (an apostrophe inside a word stays: "it's"). Returns the position after it, or NULL at the end. */
static const char *next_token(const char *p, char *out, size_t outlen, token_kind *kind)
{
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			return NULL;
		const char *start = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		size_t n = (size_t)(p - start);
		for (size_t c = 0; c < sizeof CLASS_TOKENS / sizeof *CLASS_TOKENS; c++)
			if (n == strlen(CLASS_TOKENS[c].name) && strncmp(start, CLASS_TOKENS[c].name, n) == 0) {
				*kind = CLASS_TOKENS[c].kind;
				snprintf(out, outlen, "%s", CLASS_TOKENS[c].name);
				return p;
			}
		while (n && ispunct((unsigned char)start[0]))
			start++, n--;
		while (n && ispunct((unsigned char)start[n - 1]))
			n--;
		if (n == 0)
			continue; /* a lone "-" or "," */
		size_t k = 0;
		for (; k < n && k + 1 < outlen; k++)
			out[k] = (char)tolower((unsigned char)start[k]);
		out[k] = '\0';
		*kind = TOKEN_WORD;
		return p;
	}
}

/* JSGF's operators. This parser keeps quotes as part of a token ("\"it's\"" is looked up with its
 * quotes), so a word containing one cannot be written in a grammar at all: such a word counts as
 * unknown and its phrase is dropped and reported. Apostrophes and periods need no escaping. */
static bool jsgf_writable(const char *w) { return strpbrk(w, ";=|*+<>()[]{}/\\\"!#") == NULL; }

/* Whether every word of the phrase is in the dictionary; keywords allow no classes. */
static bool phrase_known(const sova_ps_model *m, const char *phrase, bool classes_allowed, bool *empty)
{
	char tok[128];
	token_kind kind;
	*empty = true;
	for (const char *p = phrase; (p = next_token(p, tok, sizeof tok, &kind));) {
		*empty = false;
		if (kind != TOKEN_WORD ? !classes_allowed : !jsgf_writable(tok) || !lookup(m, tok))
			return false;
	}
	return true;
}

static void jsgf_class(sova_sbuf *b, const sova_ps_model *m, const char *name, const char *const *words, size_t n)
{
	sova_sbuf_adds(b, "<");
	sova_sbuf_adds(b, name);
	sova_sbuf_adds(b, "> = ");
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (!lookup(m, words[i]))
			continue;
		if (!first)
			sova_sbuf_adds(b, " | ");
		sova_sbuf_adds(b, words[i]);
		first = false;
	}
	sova_sbuf_adds(b, ";\n");
}

bool sova_ps_build_jsgf(const sova_ps_model *m, const char *const *phrases, size_t n, bool sequence, char **jsgf, char **dropped,
			char *err, size_t errlen)
{
	if (!m || !jsgf || !dropped || (n && !phrases)) {
		snprintf(err, errlen, "pocketsphinx grammar: missing argument");
		return false;
	}
	*jsgf = *dropped = NULL;
	sova_sbuf rule = {0}, gone = {0};
	bool digits = false, letters = false;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		bool empty;
		if (!phrases[i])
			continue;
		if (!phrase_known(m, phrases[i], true, &empty)) {
			if (gone.len)
				sova_sbuf_adds(&gone, "|");
			sova_sbuf_adds(&gone, phrases[i]);
			continue;
		}
		if (empty)
			continue;
		sova_sbuf_adds(&rule, kept++ ? "\n    | (" : "(");
		char tok[128];
		token_kind kind;
		bool first = true;
		for (const char *p = phrases[i]; (p = next_token(p, tok, sizeof tok, &kind)); first = false) {
			if (!first)
				sova_sbuf_adds(&rule, " ");
			if (kind == TOKEN_DIGITS || kind == TOKEN_DIGIT)
				sova_sbuf_adds(&rule, kind == TOKEN_DIGITS ? "<digit>+" : "<digit>"), digits = true;
			else if (kind == TOKEN_LETTERS || kind == TOKEN_LETTER)
				sova_sbuf_adds(&rule, kind == TOKEN_LETTERS ? "<letter>+" : "<letter>"), letters = true;
			else
				sova_sbuf_adds(&rule, tok);
		}
		sova_sbuf_adds(&rule, ")");
	}
	sova_sbuf out = {0};
	sova_sbuf_adds(&out, "#JSGF V1.0;\ngrammar sova;\n");
	if (digits)
		jsgf_class(&out, m, "digit", DIGIT_WORDS, NUM_DIGIT_WORDS);
	if (letters)
		jsgf_class(&out, m, "letter", LETTER_WORDS, NUM_LETTER_WORDS);
	sova_sbuf_adds(&out, sequence ? "public <phrase> = (" : "public <phrase> = ");
	if (rule.data)
		sova_sbuf_adds(&out, rule.data);
	sova_sbuf_adds(&out, sequence ? ")+;\n" : ";\n");
	bool ok = !rule.failed && !gone.failed && !out.failed;
	free(rule.data);
	if (!ok || kept == 0) {
		snprintf(err, errlen, ok ? "pocketsphinx grammar: no phrase left (every one has a word the dictionary lacks: %s)"
					 : "pocketsphinx grammar: out of memory%s",
			 ok && gone.data ? gone.data : "");
		free(out.data);
		free(gone.data);
		return false;
	}
	*jsgf = out.data;
	*dropped = gone.data;
	return true;
}

/* ---- the recognizer ---- */

/* An utterance's audio from shortly before its speech (WARMUP_PRESPEECH_SAMPLES), for decoding
 * it again; lost (start UINT64_MAX) once longer than UTT_AUDIO_MAX_SAMPLES or out of memory, until
 * the next utterance begins. */
typedef struct utt_audio {
	int16_t *pcm; /* owned */
	size_t len, cap;
	uint64_t start; /* stream samples at pcm[0] */
} utt_audio;

static void utt_audio_begin(utt_audio *a, uint64_t at)
{
	a->len = 0;
	a->start = at;
}

static void utt_audio_free(utt_audio *a)
{
	free(a->pcm);
	*a = (utt_audio){.start = UINT64_MAX};
}

static bool utt_audio_have(const utt_audio *a) { return a->start != UINT64_MAX && a->len > 0; }

static void utt_audio_add(utt_audio *a, const int16_t *pcm, size_t n, bool in_speech)
{
	if (a->start == UINT64_MAX)
		return;
	if (!in_speech && a->len + n > WARMUP_PRESPEECH_SAMPLES) {
		size_t drop = a->len + n - WARMUP_PRESPEECH_SAMPLES;
		drop = drop < a->len ? drop : a->len;
		memmove(a->pcm, a->pcm + drop, (a->len - drop) * sizeof *a->pcm);
		a->len -= drop;
		a->start += drop;
	}
	if (a->len + n > UTT_AUDIO_MAX_SAMPLES) {
		a->len = 0;
		a->start = UINT64_MAX;
		return;
	}
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap : PS_RATE;
		while (cap < a->len + n)
			cap *= 2;
		int16_t *p = realloc(a->pcm, cap * sizeof *p);
		if (!p) {
			a->len = 0;
			a->start = UINT64_MAX;
			return;
		}
		a->pcm = p, a->cap = cap;
	}
	memcpy(a->pcm + a->len, pcm, n * sizeof *pcm);
	a->len += n;
}

typedef struct ps_recognizer {
	sova_stt base;
	const sova_ps_model *model; /* borrowed, outlives us */
	ps_decoder_t *ps;           /* owned */
	bool open_vocabulary;       /* the decoder has the full dictionary and the "open" LM search */
	bool interim;
	bool in_utt;                /* ps_start_utt ran, ps_end_utt not yet */
	bool in_speech;             /* the endpointer heard speech in this utterance */
	uint64_t samples;           /* fed since creation */
	uint64_t utt_start;         /* samples at ps_start_utt */
	uint64_t last_interim;      /* samples at the last interim check */
	char *last_hyp;             /* text of the last INTERIM (owned) */
	cmn_t *cmn;                 /* the decoder's live cepstral mean (borrowed from it) */
	mfcc_t start_mean[16];      /* the model's start mean (-cmninit), the first cmn->veclen used */
	bool warm;                  /* the mean comes from this stream's speech; nothing is kept for a second decode */
	utt_audio kept;             /* while not warm: the utterance's audio, for the second decode */
	bool hinting;               /* an open search with expected phrases: each utterance is searched for them too */
	utt_audio hint_audio;       /* while hinting: the utterance's audio, for the hint pass */
} ps_recognizer;

static double stream_seconds(uint64_t samples) { return (double)samples / PS_RATE; }

static void clear_interim(ps_recognizer *r)
{
	free(r->last_hyp);
	r->last_hyp = NULL;
}

/* ---- the cepstral mean ----
 * The decoder subtracts a running cepstral mean from every frame (live CMN). This version starts it
 * from the model's -cmninit (feat.params, which overrides the command line here) and weighs that
 * start as 500 frames of speech, updating it only when an utterance ends: a stream whose channel
 * differs from the model's training audio (a phone line upsampled from 8 kHz, a synthetic voice)
 * has its first utterance decoded against the wrong mean and lost ("thank you for calling aetna
 * provider services ..." heard as "why"). So the start carries no weight at first, and the first
 * utterance is kept: once WARMUP_FRAMES frames of speech have passed (or the utterance ends
 * sooner), the stream's own mean is compared with the start. Close to it (START_MEAN_FITS), the
 * start is given its weight back and decoding goes on as it was (a short first line under a
 * fitting start is heard better than under a mean of one second of itself); far from it, the
 * kept audio is decoded again under the stream's own mean. Costs about a second decoded twice,
 * once per stream. */

static bool cmn_forget_start(ps_recognizer *r)
{
	r->cmn = ps_get_feat(r->ps)->cmn_struct;
	if (!r->cmn || r->cmn->veclen <= 0 || (size_t)r->cmn->veclen > sizeof r->start_mean / sizeof *r->start_mean)
		return false;
	memcpy(r->start_mean, r->cmn->cmn_mean, (size_t)r->cmn->veclen * sizeof *r->start_mean);
	memset(r->cmn->sum, 0, (size_t)r->cmn->veclen * sizeof *r->cmn->sum);
	r->cmn->nframe = 0;
	return true;
}

static bool start_mean_fits(const ps_recognizer *r)
{
	double d2 = 0;
	for (int i = 0; i < r->cmn->veclen; i++) {
		double x = r->cmn->sum[i] / r->cmn->nframe - r->start_mean[i];
		d2 += x * x;
	}
	return sqrt(d2) <= START_MEAN_FITS;
}

/* The start back with the weight this decoder gives it (CMN_WIN frames) beside what was heard;
 * after an utterance's end also as the mean in use, as the decoder would have updated it. */
static void keep_start_mean(ps_recognizer *r, bool ended)
{
	for (int i = 0; i < r->cmn->veclen; i++)
		r->cmn->sum[i] += r->start_mean[i] * CMN_WIN;
	r->cmn->nframe += CMN_WIN;
	if (ended)
		cmn_live_update(r->cmn);
}

static void drop_kept(ps_recognizer *r) { utt_audio_free(&r->kept); }

/* Keeps what was fed while not warm (for the second decode) and while hinting (for the hint pass). */
static void keep_audio(ps_recognizer *r, const int16_t *pcm, size_t n)
{
	if (!r->warm)
		utt_audio_add(&r->kept, pcm, n, r->in_speech);
	if (r->hinting)
		utt_audio_add(&r->hint_audio, pcm, n, r->in_speech);
}

static bool have_kept(const ps_recognizer *r) { return !r->warm && utt_audio_have(&r->kept); }

/* Decodes the kept audio again from the utterance's start, under the mean its speech gave
 * (ps_end_utt updated it). The utterance stays open. */
static bool redecode_kept(ps_recognizer *r, char *err, size_t errlen)
{
	if (ps_start_utt(r->ps) < 0) {
		ps_fail(err, errlen, "ps_start_utt failed");
		return false;
	}
	r->utt_start = r->last_interim = r->kept.start;
	if (ps_process_raw(r->ps, r->kept.pcm, r->kept.len, FALSE, FALSE) < 0) {
		ps_fail(err, errlen, "ps_process_raw failed");
		return false;
	}
	return true;
}

/* Mid-utterance, once enough speech was heard: the mean from it, then the utterance again. */
static bool warm_up(ps_recognizer *r, char *err, size_t errlen)
{
	r->warm = true;
	if (start_mean_fits(r)) {
		keep_start_mean(r, false);
		drop_kept(r);
		return true;
	}
	if (ps_end_utt(r->ps) < 0) { /* its hypothesis is dropped; the mean is updated from the speech so far */
		ps_fail(err, errlen, "ps_end_utt failed");
		return false;
	}
	bool ok = redecode_kept(r, err, errlen);
	drop_kept(r);
	clear_interim(r);
	return ok;
}

static void emit(ps_recognizer *r, sova_stt_event *ev) { r->base.callback(r->base.user, ev); }

/* Adds the phrase's words (every pronunciation) that the decoder does not know yet. */
static bool add_words(ps_recognizer *r, const char *phrase, char *err, size_t errlen)
{
	char tok[128];
	token_kind kind;
	for (const char *p = phrase; (p = next_token(p, tok, sizeof tok, &kind));) {
		bool digit = kind == TOKEN_DIGITS || kind == TOKEN_DIGIT, letter = kind == TOKEN_LETTERS || kind == TOKEN_LETTER;
		const char *const *words = digit ? DIGIT_WORDS : letter ? LETTER_WORDS : NULL;
		size_t n = digit ? NUM_DIGIT_WORDS : letter ? NUM_LETTER_WORDS : 1;
		for (size_t i = 0; i < n; i++) {
			const char *w = words ? words[i] : tok;
			const dict_entry *e = lookup(r->model, w);
			if (!e)
				continue; /* a class word the dictionary lacks; the grammar left it out too */
			char *known = ps_lookup_word(r->ps, w);
			if (known) {
				ckd_free(known);
				continue;
			}
			const dict_entry *end = r->model->entries + r->model->num_entries;
			for (; e < end && strcmp(e->word, w) == 0; e++) {
				char name[160];
				if (e->variant == 1)
					snprintf(name, sizeof name, "%s", w);
				else
					snprintf(name, sizeof name, "%s(%d)", w, e->variant);
				if (ps_add_word(r->ps, name, e->phones, FALSE) < 0) {
					char what[200];
					snprintf(what, sizeof what, "cannot add the word %s", name);
					ps_fail(err, errlen, what);
					return false;
				}
			}
		}
	}
	return true;
}

/* ps_set_jsgf_string's steps, done here because that function leaks the parsed grammar
 * (about 8 KiB a call in 0.8+5prealpha, found with LeakSanitizer): parse, build the FSG with the
 * decoder's language weight, hand it over (ps_set_fsg keeps its own reference), free both. */
static bool set_grammar(ps_recognizer *r, const char *jsgf_text)
{
	jsgf_t *jsgf = jsgf_parse_string(jsgf_text, NULL);
	if (!jsgf)
		return false;
	jsgf_rule_t *rule = jsgf_get_public_rule(jsgf);
	float lw = (float)cmd_ln_float_r(ps_get_config(r->ps), "-lw");
	fsg_model_t *fsg = rule ? jsgf_build_fsg(jsgf, rule, ps_get_logmath(r->ps), lw) : NULL;
	bool ok = fsg && ps_set_fsg(r->ps, "grammar", fsg) >= 0;
	if (fsg)
		fsg_model_free(fsg);
	jsgf_grammar_free(jsgf);
	return ok;
}

/* Whether a hint is worth a pass: one of its words is one the language model rarely expects
 * (unigram below HINT_RARE_LOG10, or not in it at all). Phrases of common words ("this is me",
 * "at the tone") the LM hears as well as a keyword search does, and through 8 kHz μ-law a
 * spotting of them replaced words that were right (flow eval --audio: WER 74% -> 86%). */
#define HINT_RARE_LOG10 (-4.7)

static bool rare_enough(ps_recognizer *r, const char *phrase)
{
	ngram_model_t *lm = ps_get_lm(r->ps, "open");
	if (!lm)
		return true;
	logmath_t *lmath = ps_get_logmath(r->ps);
	char tok[64];
	token_kind kind;
	for (const char *p = phrase; (p = next_token(p, tok, sizeof tok, &kind));) {
		const char *w = tok;
		if (ngram_wid(lm, tok) == ngram_unknown_wid(lm) || logmath_log_to_log10(lmath, ngram_prob(lm, &w, 1)) < HINT_RARE_LOG10)
			return true;
	}
	return false;
}

/* Keyword spotting's thresholds (pocketsphinx's documented range for short phrases is 1e-10..1e-30;
 * lower spots more). A hint is spotted more freely: the language model's words must bear it out. */
#define KEYWORD_THRESHOLD "1e-20"
#define HINT_THRESHOLD "1e-30"

/* A keyword file for ps_set_kws (this API takes lists only from a file): one phrase a line, those
 * with a word the dictionary lacks left out (start() reported them). */
static bool set_keywords(ps_recognizer *r, const sova_stt_options *opt, const char *search, const char *threshold,
			 bool (*wanted)(ps_recognizer *, const char *), size_t *written, char *err, size_t errlen)
{
	*written = 0;
	const char *tmp = getenv("TMPDIR");
	char path[1024];
	snprintf(path, sizeof path, "%s/sova-kws-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(err, errlen, "pocketsphinx: cannot create a keyword file in %s: %s", tmp && tmp[0] ? tmp : "/tmp", strerror(errno));
		return false;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		snprintf(err, errlen, "pocketsphinx: cannot write the keyword file");
		return false;
	}
	bool ok = true;
	for (size_t i = 0; i < opt->num_phrases; i++) {
		bool empty;
		if (!phrase_known(r->model, opt->phrases[i], false, &empty) || empty || (wanted && !wanted(r, opt->phrases[i])))
			continue;
		(*written)++;
		char tok[128];
		token_kind kind;
		bool first = true;
		for (const char *p = opt->phrases[i]; (p = next_token(p, tok, sizeof tok, &kind)); first = false)
			ok &= fprintf(f, "%s%s", first ? "" : " ", tok) > 0;
		ok &= fprintf(f, " /%s/\n", threshold) > 0;
	}
	ok &= fclose(f) == 0;
	ok = ok && (*written == 0 || ps_set_kws(r->ps, search, path) == 0);
	unlink(path);
	if (!ok)
		ps_fail(err, errlen, "cannot set the keyword search");
	return ok;
}

/* ---- expected phrases in an open search (hints) ----
 * The language model hears anything but rarely a name it has no n-grams for ("wei chen" comes back
 * "wage and"); a grammar hears the phrase but forces one onto any other line; keyword spotting finds
 * the phrase and loses the rest (docs/benchmarks.md, "Expected-phrase hints"). So with hints each
 * utterance is decoded by the language model as it comes and, once it ends, its kept audio is
 * searched again for the phrases (keyword spotting, about 1/30 of the LM's cost); a spotted phrase
 * takes the place of the run of the LM's words that sounds most like it (phones by the
 * dictionary), and only when that run sounds close enough: a spotting the LM's words do not bear out
 * changes nothing. The spotting's own frame numbers are not used: this pocketsphinx counts them
 * from somewhere earlier in the stream. */

#define HINT_MAX_PHONES 96
#define HINT_MIN_PHONES_WORD 6  /* a one-word hint shorter than this replaces nothing */
#define HINT_MIN_PHONES_WORDS 5 /* nor a longer phrase shorter than this */
#define HINT_MAX_DISTANCE 0.5 /* phone edits per phone of the longer side, a near substitution counting half */

typedef struct phones {
	char p[HINT_MAX_PHONES][4];
	size_t n;
} phones;

/* Appends word's phones (its first pronunciation); false when it has none or they do not fit. */
static bool add_phones(const sova_ps_model *m, const char *word, phones *out)
{
	const dict_entry *e = lookup(m, word);
	if (!e)
		return false;
	for (const char *p = e->phones; *p;) {
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " ");
		if (!n)
			break;
		if (out->n == HINT_MAX_PHONES || n >= sizeof out->p[0])
			return false;
		memcpy(out->p[out->n], p, n);
		out->p[out->n++][n] = '\0';
		p += n;
	}
	return true;
}

static bool is_vowel(const char *ph) { return strchr("AEIOU", ph[0]) != NULL; }

/* Half a substitution for phones a listener could take for each other: two vowels, a consonant
 * and its voiced twin, two nasals. */
static double substitution(const char *a, const char *b)
{
	static const char *const NEAR[][2] = {{"P", "B"}, {"T", "D"}, {"K", "G"}, {"F", "V"}, {"TH", "DH"}, {"S", "Z"},
					      {"SH", "ZH"}, {"CH", "JH"}, {"M", "N"}, {"N", "NG"}, {"M", "NG"}};
	if (strcmp(a, b) == 0)
		return 0;
	if (is_vowel(a) && is_vowel(b))
		return 0.5;
	for (size_t i = 0; i < sizeof NEAR / sizeof *NEAR; i++)
		if ((!strcmp(a, NEAR[i][0]) && !strcmp(b, NEAR[i][1])) || (!strcmp(a, NEAR[i][1]) && !strcmp(b, NEAR[i][0])))
			return 0.5;
	return 1;
}

/* Edit distance between two phone strings, per phone of the longer. */
static double phone_distance(const phones *a, const phones *b)
{
	double row[HINT_MAX_PHONES + 1], prev[HINT_MAX_PHONES + 1];
	for (size_t j = 0; j <= b->n; j++)
		prev[j] = (double)j;
	for (size_t i = 1; i <= a->n; i++) {
		row[0] = (double)i;
		for (size_t j = 1; j <= b->n; j++) {
			double sub = prev[j - 1] + substitution(a->p[i - 1], b->p[j - 1]);
			double del = prev[j] + 1, ins = row[j - 1] + 1;
			row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, row, (b->n + 1) * sizeof *row);
	}
	size_t longer = a->n > b->n ? a->n : b->n;
	return longer ? prev[b->n] / (double)longer : 0;
}

/* A hint may not say "no" where the LM heard none, nor take one away ("it was approved" must not
 * become the expected "not approved"). */
static bool is_negation(const char *w)
{
	static const char *const NEG[] = {"not", "no", "never", "don't", "didn't", "doesn't", "isn't", "wasn't", "aren't",
					  "can't", "cannot", "won't", "haven't", "hasn't", "none", "nothing", "nobody"};
	for (size_t i = 0; i < sizeof NEG / sizeof *NEG; i++)
		if (strcmp(w, NEG[i]) == 0)
			return true;
	return false;
}

#define MAX_HEARD_WORDS 64

/* An utterance's words as the FINAL reports them; names hold the words' text. */
typedef struct heard {
	sova_stt_word words[MAX_HEARD_WORDS];
	char names[MAX_HEARD_WORDS][64];
	size_t n;
} heard;

static void heard_add(heard *h, const char *word, double start_s, double end_s)
{
	if (h->n == MAX_HEARD_WORDS)
		return;
	snprintf(h->names[h->n], sizeof h->names[0], "%s", word);
	h->names[h->n][strcspn(h->names[h->n], "(")] = '\0'; /* the dictionary's "(2)" of a variant */
	h->words[h->n] = (sova_stt_word){.word = h->names[h->n], .start_s = start_s, .end_s = end_s,
					 .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
	h->n++;
}

/* Whether the phrase's words are already a run of the heard words. */
static bool heard_has(const heard *h, char words[][64], size_t k)
{
	for (size_t i = 0; i + k <= h->n; i++) {
		size_t j = 0;
		while (j < k && strcmp(h->names[i + j], words[j]) == 0)
			j++;
		if (j == k)
			return true;
	}
	return false;
}

/* Puts the spotted phrase in place of the run of heard words that sounds most like it, when one
 * sounds close enough. Words already replaced (taken) are not matched again. */
static void apply_hint(const sova_ps_model *m, heard *h, bool *taken, const char *phrase)
{
	char words[8][64];
	size_t k = 0;
	phones want = {0};
	char tok[64];
	token_kind kind;
	for (const char *p = phrase; (p = next_token(p, tok, sizeof tok, &kind));) {
		if (k == sizeof words / sizeof *words || !add_phones(m, tok, &want))
			return;
		snprintf(words[k++], sizeof words[0], "%s", tok);
	}
	/* a short phrase ("yes", "no", "bye") is what the LM hears well and what sounds like many
	 * other words: replacing by it turned "no" into "new" (measured, flow eval --audio) */
	if (!k || want.n < (k > 1 ? HINT_MIN_PHONES_WORDS : HINT_MIN_PHONES_WORD) || heard_has(h, words, k))
		return;
	size_t negations = 0;
	for (size_t j = 0; j < k; j++)
		negations += is_negation(words[j]);
	double best = HINT_MAX_DISTANCE;
	size_t best_i = 0, best_len = 0;
	for (size_t i = 0; i < h->n; i++) {
		phones run = {0};
		size_t run_negations = 0;
		for (size_t len = 1; len <= k + 2 && i + len <= h->n; len++) {
			if (taken[i + len - 1] || !add_phones(m, h->names[i + len - 1], &run))
				break;
			run_negations += is_negation(h->names[i + len - 1]);
			if (run_negations != negations)
				continue;
			double d = phone_distance(&want, &run);
			if (d <= best && (best_len == 0 || d < best)) {
				best = d;
				best_i = i;
				best_len = len;
			}
		}
	}
	if (!best_len)
		return;
	heard out = {0};
	bool out_taken[MAX_HEARD_WORDS] = {0};
	for (size_t i = 0; i < h->n; i++) {
		if (i == best_i) {
			double start = h->words[i].start_s, end = h->words[i + best_len - 1].end_s, step = (end - start) / (double)k;
			for (size_t j = 0; j < k; j++) {
				out_taken[out.n] = true;
				heard_add(&out, words[j], start + step * (double)j, start + step * (double)(j + 1));
			}
			i += best_len - 1;
			continue;
		}
		out_taken[out.n] = taken[i];
		heard_add(&out, h->names[i], h->words[i].start_s, h->words[i].end_s);
	}
	*h = out;
	for (size_t i = 0; i < h->n; i++) {
		h->words[i].word = h->names[i]; /* the copy's own text */
		taken[i] = out_taken[i];
	}
}

/* The hint pass over the utterance's kept audio: keyword spotting for the phrases, under the
 * cepstral mean the utterance was heard with (the pass must not move it), then back to the LM.
 * Sets *changed when a spotted phrase went into h. */
static bool apply_hints(ps_recognizer *r, heard *h, bool *changed, char *err, size_t errlen)
{
	*changed = false;
	if (!h->n || !utt_audio_have(&r->hint_audio))
		return true;
	mfcc_t sum[16], mean[16];
	int32 nframe = r->cmn->nframe;
	size_t vec = (size_t)r->cmn->veclen * sizeof *sum;
	memcpy(sum, r->cmn->sum, vec);
	memcpy(mean, r->cmn->cmn_mean, vec);
	bool ok = ps_set_search(r->ps, "hints") >= 0 && ps_start_utt(r->ps) >= 0;
	ok = ok && ps_process_raw(r->ps, r->hint_audio.pcm, r->hint_audio.len, FALSE, FALSE) >= 0;
	ok = ps_end_utt(r->ps) >= 0 && ok;
	bool taken[MAX_HEARD_WORDS] = {0};
	size_t before = h->n;
	char before_text[MAX_HEARD_WORDS][64];
	memcpy(before_text, h->names, sizeof before_text);
	for (ps_seg_t *seg = ok ? ps_seg_iter(r->ps) : NULL; seg; seg = ps_seg_next(seg)) {
		const char *phrase = ps_seg_word(seg);
		if (phrase)
			apply_hint(r->model, h, taken, phrase);
	}
	if (h->n != before)
		*changed = true;
	for (size_t i = 0; i < h->n && !*changed; i++)
		*changed = strcmp(h->names[i], before_text[i]) != 0;
	memcpy(r->cmn->sum, sum, vec);
	memcpy(r->cmn->cmn_mean, mean, vec);
	r->cmn->nframe = nframe;
	if (ps_set_search(r->ps, "open") < 0 || !ok) {
		ps_fail(err, errlen, "the hint pass failed");
		return false;
	}
	return true;
}

/* Ends the utterance and reports it: FINAL (when there is text, or always on finalize), then
 * UTTERANCE_END when speech was heard. */
static bool end_utterance(ps_recognizer *r, bool from_finalize, bool always_final, char *err, size_t errlen)
{
	if (!r->in_utt)
		return true;
	r->in_utt = false;
	if (ps_end_utt(r->ps) < 0) {
		ps_fail(err, errlen, "ps_end_utt failed");
		return false;
	}
	if (r->in_speech && have_kept(r) && r->cmn->nframe > 0 && start_mean_fits(r)) { /* ended before the warm-up */
		keep_start_mean(r, true);
		r->warm = true;
		drop_kept(r);
	} else if (r->in_speech && have_kept(r)) { /* likewise, far from the start: heard again under its own mean */
		r->warm = r->cmn->nframe >= WARMUP_FRAMES;
		if (!redecode_kept(r, err, errlen))
			return false;
		if (ps_end_utt(r->ps) < 0) {
			ps_fail(err, errlen, "ps_end_utt failed");
			return false;
		}
		if (r->warm)
			drop_kept(r);
	}
	const char *hyp = ps_get_hyp(r->ps, NULL);
	if (!hyp)
		hyp = "";
	double base = stream_seconds(r->utt_start);
	heard h = {0};
	for (ps_seg_t *seg = ps_seg_iter(r->ps); seg; seg = ps_seg_next(seg)) {
		const char *w = ps_seg_word(seg);
		int sf = 0, ef = 0;
		ps_seg_frames(seg, &sf, &ef);
		if (!w || w[0] == '<' || w[0] == '[' || w[0] == '+')
			continue; /* silence, noise and sentence markers */
		heard_add(&h, w, base + sf / PS_FRAMES_PER_SECOND, base + (ef + 1) / PS_FRAMES_PER_SECOND);
	}
	double last_end = h.n ? h.words[h.n - 1].end_s : base;
	sova_sbuf text = {0};
	if (r->hinting) {
		bool changed;
		sova_sbuf_adds(&text, hyp); /* the LM's hypothesis does not outlive the hint pass */
		if (text.failed || !apply_hints(r, &h, &changed, err, errlen)) {
			if (text.failed)
				snprintf(err, errlen, "pocketsphinx: out of memory");
			free(text.data);
			return false;
		}
		if (changed)
			sova_sbuf_reset(&text);
		for (size_t i = 0; changed && i < h.n; i++) {
			if (i)
				sova_sbuf_adds(&text, " ");
			sova_sbuf_adds(&text, h.names[i]);
		}
		if (text.failed) {
			free(text.data);
			snprintf(err, errlen, "pocketsphinx: out of memory");
			return false;
		}
		if (text.data)
			hyp = text.data; /* the LM's own hypothesis went with the hint pass */
	}
	if (hyp[0] || always_final) {
		sova_stt_event ev = {.kind = SOVA_STT_FINAL, .text = hyp, .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN,
				     .start_s = base, .duration_s = stream_seconds(r->samples) - base,
				     .speech_final = !from_finalize, .from_finalize = from_finalize,
				     .words = h.n ? h.words : NULL, .num_words = h.n};
		emit(r, &ev);
	}
	free(text.data);
	if (r->in_speech) {
		sova_stt_event ev = {.kind = SOVA_STT_UTTERANCE_END, .at_s = last_end};
		emit(r, &ev);
	}
	r->in_speech = false;
	clear_interim(r);
	return true;
}

static bool begin_utterance(ps_recognizer *r, char *err, size_t errlen)
{
	if (ps_start_utt(r->ps) < 0) {
		ps_fail(err, errlen, "ps_start_utt failed");
		return false;
	}
	r->in_utt = true;
	r->in_speech = false;
	r->utt_start = r->last_interim = r->samples;
	if (!r->warm)
		utt_audio_begin(&r->kept, r->samples);
	if (r->hinting)
		utt_audio_begin(&r->hint_audio, r->samples);
	return true;
}

/* The phrases whose words the dictionary has: reports the others (SOVA_STT_PHRASES_DROPPED) and
 * counts the rest. */
static bool check_phrases(ps_recognizer *r, const sova_stt_options *opt, bool classes, size_t *kept, char *err, size_t errlen)
{
	sova_sbuf gone = {0};
	*kept = 0;
	for (size_t i = 0; i < opt->num_phrases; i++) {
		bool empty;
		if (!phrase_known(r->model, opt->phrases[i], classes, &empty)) {
			if (gone.len)
				sova_sbuf_adds(&gone, "|");
			sova_sbuf_adds(&gone, opt->phrases[i]);
		} else if (!empty) {
			(*kept)++;
		}
	}
	if (gone.failed) {
		free(gone.data);
		snprintf(err, errlen, "pocketsphinx: out of memory");
		return false;
	}
	if (gone.data) {
		sova_stt_event ev = {.kind = SOVA_STT_PHRASES_DROPPED, .text = gone.data};
		emit(r, &ev);
		free(gone.data);
	}
	return true;
}

static bool ps_start(sova_stt *base, const sova_stt_options *opt, char *err, size_t errlen)
{
	ps_recognizer *r = (ps_recognizer *)base;
	if (opt->search == SOVA_STT_SEARCH_OPEN && !r->open_vocabulary) {
		snprintf(err, errlen, "pocketsphinx: an open-vocabulary search needs a recognizer made with open_vocabulary");
		return false;
	}
	if (!end_utterance(r, true, false, err, errlen))
		return false;
	last_error[0] = '\0';
	r->hinting = false;
	utt_audio_free(&r->hint_audio);
	bool classes = opt->search == SOVA_STT_SEARCH_GRAMMAR;
	size_t kept = 0;
	if (opt->num_phrases && !check_phrases(r, opt, classes, &kept, err, errlen))
		return false;
	if (opt->search == SOVA_STT_SEARCH_OPEN) {
		/* hints: the open decoder knows every dictionary word already */
		size_t rare = 0;
		if (kept && !set_keywords(r, opt, "hints", HINT_THRESHOLD, rare_enough, &rare, err, errlen))
			return false;
		if (ps_set_search(r->ps, "open") < 0) {
			ps_fail(err, errlen, "cannot switch to the language model");
			return false;
		}
		r->hinting = rare > 0;
	} else {
		if (kept == 0) {
			snprintf(err, errlen, "pocketsphinx: no expected phrase is recognizable (every one has a word the dictionary lacks)");
			return false;
		}
		for (size_t i = 0; i < opt->num_phrases; i++) {
			bool empty;
			if (phrase_known(r->model, opt->phrases[i], classes, &empty) && !add_words(r, opt->phrases[i], err, errlen))
				return false;
		}
		if (opt->search == SOVA_STT_SEARCH_GRAMMAR) {
			char *jsgf = NULL, *dropped = NULL;
			if (!sova_ps_build_jsgf(r->model, opt->phrases, opt->num_phrases, opt->sequence, &jsgf, &dropped, err, errlen))
				return false;
			free(dropped); /* reported above */
			bool ok = set_grammar(r, jsgf);
			free(jsgf);
			if (!ok || ps_set_search(r->ps, "grammar") < 0) {
				ps_fail(err, errlen, "cannot set the grammar");
				return false;
			}
		} else if (!set_keywords(r, opt, "keywords", KEYWORD_THRESHOLD, NULL, &kept, err, errlen) ||
			   ps_set_search(r->ps, "keywords") < 0) {
			if (!err[0])
				ps_fail(err, errlen, "cannot switch to the keyword search");
			return false;
		}
	}
	r->interim = opt->interim_results;
	return begin_utterance(r, err, errlen);
}

static bool ps_feed(sova_stt *base, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
	ps_recognizer *r = (ps_recognizer *)base;
	if (!r->in_utt && !begin_utterance(r, err, errlen))
		return false;
	if (ps_process_raw(r->ps, pcm, n, FALSE, FALSE) < 0) {
		ps_fail(err, errlen, "ps_process_raw failed");
		return false;
	}
	keep_audio(r, pcm, n);
	r->samples += n;
	bool speech = ps_get_in_speech(r->ps) != 0;
	if (speech && have_kept(r) && r->cmn->nframe >= WARMUP_FRAMES && !warm_up(r, err, errlen))
		return false;
	if (speech && !r->in_speech) {
		r->in_speech = true;
		sova_stt_event ev = {.kind = SOVA_STT_SPEECH_STARTED, .at_s = stream_seconds(r->samples)};
		emit(r, &ev);
	} else if (!speech && r->in_speech) {
		return end_utterance(r, false, false, err, errlen) && begin_utterance(r, err, errlen);
	}
	if (r->interim && r->in_speech && r->samples - r->last_interim >= INTERIM_EVERY_SAMPLES) {
		r->last_interim = r->samples;
		const char *hyp = ps_get_hyp(r->ps, NULL);
		if (hyp && hyp[0] && (!r->last_hyp || strcmp(hyp, r->last_hyp) != 0)) {
			char *copy = strdup(hyp);
			if (!copy) {
				snprintf(err, errlen, "pocketsphinx: out of memory");
				return false;
			}
			clear_interim(r);
			r->last_hyp = copy;
			double start = stream_seconds(r->utt_start);
			sova_stt_event ev = {.kind = SOVA_STT_INTERIM, .text = copy, .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN,
					     .start_s = start, .duration_s = stream_seconds(r->samples) - start};
			emit(r, &ev);
		}
	}
	return true;
}

static bool ps_finalize(sova_stt *base, char *err, size_t errlen)
{
	ps_recognizer *r = (ps_recognizer *)base;
	if (!r->in_utt) /* nothing fed since the last end: Deepgram still answers with an empty final */
		return begin_utterance(r, err, errlen) && end_utterance(r, true, true, err, errlen) && begin_utterance(r, err, errlen);
	return end_utterance(r, true, true, err, errlen) && begin_utterance(r, err, errlen);
}

static void ps_close(sova_stt *base)
{
	ps_recognizer *r = (ps_recognizer *)base;
	if (r->in_utt)
		ps_end_utt(r->ps);
	ps_free(r->ps);
	r->ps = NULL;
	clear_interim(r);
	drop_kept(r);
	utt_audio_free(&r->hint_audio);
}

static void ps_destroy(sova_stt *base) { free(base); }

static const sova_stt_vtable PS_VTABLE = {
	.name = "pocketsphinx", .start = ps_start, .feed = ps_feed, .finalize = ps_finalize, .close = ps_close, .destroy = ps_destroy};

sova_stt *sova_stt_pocketsphinx_new(const sova_ps_model *m, const sova_stt_config *cfg, bool open_vocabulary, sova_stt_callback cb,
				    void *user, char *err, size_t errlen)
{
	if (!m || !cfg || !cb) {
		snprintf(err, errlen, "pocketsphinx: missing %s", !m ? "model" : !cfg ? "config" : "callback");
		return NULL;
	}
	if (cfg->sample_rate != PS_RATE) {
		snprintf(err, errlen, "pocketsphinx: the en-us model takes %d Hz audio only, not %d (this version crashes at 8000 Hz); resample first",
			 PS_RATE, cfg->sample_rate);
		return NULL;
	}
	if (cfg->language && strncmp(cfg->language, "en", 2) != 0) {
		snprintf(err, errlen, "pocketsphinx: only English (en) is installed, not %s", cfg->language);
		return NULL;
	}
	if (cfg->endpointing_ms < 0 || cfg->endpointing_ms > 10000) {
		snprintf(err, errlen, "pocketsphinx: endpointing_ms %d is outside 0..10000", cfg->endpointing_ms);
		return NULL;
	}
	ps_recognizer *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "pocketsphinx: out of memory");
		return NULL;
	}
	sova_stt_init_base(&r->base, &PS_VTABLE, cfg, cb, user);
	r->model = m;
	r->open_vocabulary = open_vocabulary;
	char postspeech[16];
	/* the endpointer counts 10 ms frames; 0 keeps pocketsphinx's 50 (0.5 s) */
	snprintf(postspeech, sizeof postspeech, "%d", cfg->endpointing_ms ? (cfg->endpointing_ms + 9) / 10 : 50);
	last_error[0] = '\0';
	/* Without -dict the decoder starts with no words (cheap); start() adds the phrases' words. */
	cmd_ln_t *conf = open_vocabulary
				 ? cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", m->hmm, "-dict", m->dict_path, "-vad_postspeech", postspeech, NULL)
				 : cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", m->hmm, "-vad_postspeech", postspeech, NULL);
	if (conf)
		r->ps = ps_init(conf);
	if (conf)
		cmd_ln_free_r(conf); /* the decoder keeps its own reference */
	if (!r->ps) {
		ps_fail(err, errlen, "cannot create a decoder");
		free(r);
		return NULL;
	}
	if (open_vocabulary && ps_set_lm_file(r->ps, "open", m->lm_path) < 0) {
		ps_fail(err, errlen, "cannot load the language model");
		ps_free(r->ps);
		free(r);
		return NULL;
	}
	if (!cmn_forget_start(r)) {
		snprintf(err, errlen, "pocketsphinx: the decoder has no live cepstral mean of the expected size");
		ps_free(r->ps);
		free(r);
		return NULL;
	}
	return &r->base;
}

