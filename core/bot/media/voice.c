/* One voice call's media: see voice.h for the rules. */
#include "bot/media/voice.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/media/audio.h"
#include "bot/media/hold.h"
#include "bot/media/voice_text.h"

#define PACER_CAPACITY_MS 500 /* the pacer holds a few frames; lines wait in their own buffers */
#define TOPUP_FRAMES 3        /* frames kept ready in the pacer */
#define REANCHOR_MS 200       /* a gap in the far end's sending longer than this is silence */
#define NS_PER_MS 1000000LL

/* ---- the agent's lines ---- */

typedef struct voice_chunk { /* one piece of text handed to the synthesizer (one sova_tts_say) */
	size_t text_off, text_len; /* in the line's text */
	uint64_t audio;            /* synthesizer samples of its audio so far */
} voice_chunk;

typedef struct voice_mark { /* a word mark from the synthesizer */
	size_t chunk;
	uint64_t end_ms;           /* from the start of the line's audio */
	size_t word_off, word_len; /* in the line's mark_text */
} voice_mark;

typedef struct voice_line {
	uint32_t id;
	uint32_t tts_turn;                 /* the synthesizer's turn number for it (0: nothing handed yet) */
	char *text;                        /* everything said, as said (owned) */
	size_t text_len, text_cap;
	size_t handed;                     /* bytes of text given to the synthesizer */
	bool final_said, tts_final, synth_done;
	voice_chunk *chunks;               /* owned */
	size_t num_chunks, chunks_cap;
	voice_mark *marks;                 /* owned */
	size_t num_marks, marks_cap;
	char *mark_text;                   /* the marks' words (owned) */
	size_t mark_text_len, mark_text_cap;
	int16_t *audio;                    /* synthesized, not yet in the pacer, at the synthesizer's rate (owned) */
	size_t audio_read, audio_len, audio_cap;
	bool line_begun, line_ended, started_out, overflow_reported;
	sova_voice_stamps stamps;
} voice_line;

/* ---- the other party's current utterance ---- */

typedef struct utterance {
	bool active;
	bool over_agent;    /* began while the agent's audio was going out */
	bool vad_heard, vad_stopped;
	bool endpoint;      /* the recognizer said the speech ended (speech_final / UTTERANCE_END) */
	bool finalize_sent, finalized, barged;
	char finals[SOVA_VOICE_MAX_UTTERANCE];
	size_t finals_len;
	char interim[SOVA_VOICE_MAX_UTTERANCE];
	size_t interim_len;
	double conf_sum;
	int conf_n;
	bool conf_unknown;
	uint64_t speech_end_ms, last_text_ms; /* stream time */
	int64_t speech_end_ns, last_text_ns, final_ns, finalize_ns;
} utterance;

struct sova_voice {
	sova_voice_config cfg;
	sova_stt *stt; /* owned */
	sova_tts *tts; /* owned */
	int stt_rate, tts_rate;
	int turn_min_ms, turn_max_ms, barge_min_ms, barge_min_words;
	const char *const *backchannels;
	size_t num_backchannels;

	sova_vad *vad;            /* owned */
	size_t vad_frame;         /* samples at wire rate */
	int16_t *vad_buf;         /* owned: a frame being filled */
	size_t vad_len;
	bool vad_in_speech;
	uint64_t vad_now_ms, speech_start_ms;
	bool announced;           /* SPEECH_STARTED sent, STOPPED not yet */

	sova_resampler *to_stt;   /* owned: wire -> stt rate */
	sova_resampler *from_tts; /* owned: tts -> wire rate */
	sova_pacer *pacer;        /* owned */
	size_t frame_samples, max_in, tts_step;
	int16_t *in_pcm;          /* owned: one decoded input frame */
	int16_t *stt_pcm;         /* owned: it resampled */
	size_t stt_cap;
	int16_t *rs_pcm;          /* owned: one step of line audio resampled */
	size_t rs_cap;
	int16_t *out_pcm;         /* owned: one outbound frame */
	uint8_t *out_wire;        /* owned: it encoded */
	size_t out_bytes;

	int64_t t0;
	bool answered, hold, listening, stt_broken;
	int64_t last_tick;     /* the owner's last tick (when it was due), 0 before the first */
	bool writer_busy;      /* as the last tick said */
	bool paced;            /* sova_voice_pace ran for the tick sova_voice_tick has yet to finish */
	bool no_barge_in; /* the flow turned barge-in off: the agent always finishes its line */

	voice_line lines[SOVA_VOICE_MAX_LINES]; /* FIFO: head is the one playing */
	size_t head, count;
	uint32_t last_id, zombie; /* zombie: an interrupted line whose remaining chunks are dropped */
	size_t queued;            /* synthesizer samples waiting, all lines */
	bool answer_pending;
	sova_voice_stamps answer; /* the last END_OF_TURN's stamps, for the line that answers it */

	utterance u;

	sova_hold *watcher;       /* owned: made at the first hold */
	bool probing;             /* on hold, recognition runs: the watcher fired (or could not be made) */
	uint64_t probe_samples;   /* of the far end's audio since the probe began */
	uint64_t probe_max;       /* a probe's length, samples at wire rate */
	uint64_t unheard;         /* samples at wire rate the recognizer did not get on hold */

	int64_t first_input_ns, flood_reported_ns;
	uint64_t in_samples, dropped_samples;
	uint64_t rec_in_pos;
	bool rec_in_anchored, record_failed;

	sova_voice_stats stats;
};

static int64_t now_ns(const sova_voice *v) { return v->cfg.clock(v->cfg.clock_ud); }

/* The recognizer hears the far end: always, except on hold outside a probe. */
static bool recognizing(const sova_voice *v) { return !v->hold || v->probing; }

static void emit(sova_voice *v, sova_voice_event *ev)
{
	if (!ev->text)
		ev->text = "";
	v->cfg.on_event(v->cfg.ud, ev);
}

static void emit_error(sova_voice *v, bool fatal, const char *fmt, const char *detail)
{
	char msg[512];
	snprintf(msg, sizeof msg, fmt, detail);
	sova_voice_event ev = {.kind = SOVA_VOICE_ERROR, .text = msg, .fatal = fatal, .confidence = -1};
	emit(v, &ev);
}

/* Grows *p (elements of size elem) to hold need; false on no memory. */
static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

/* Position on the recording's timeline of an instant on the voice's clock. */
static uint64_t sample_at(const sova_voice *v, int64_t ns)
{
	return ns <= v->t0 ? 0 : (uint64_t)((ns - v->t0) / 1000) * (uint64_t)v->cfg.wire_rate / 1000000u;
}

static void record(sova_voice *v, int channel, uint64_t at, const int16_t *pcm, size_t n)
{
	if (!v->cfg.record || v->record_failed)
		return;
	if (v->cfg.record(v->cfg.ud, channel, at, pcm, n) != 0) {
		v->record_failed = true;
		emit_error(v, false, "record: the recording sink refused audio%s; the rest of the call is not recorded", "");
	}
}

/* ---- lines ---- */

static voice_line *line_at(sova_voice *v, size_t i) { return &v->lines[(v->head + i) % SOVA_VOICE_MAX_LINES]; }
static voice_line *front(sova_voice *v) { return v->count ? line_at(v, 0) : NULL; }
static voice_line *newest(sova_voice *v) { return v->count ? line_at(v, v->count - 1) : NULL; }

static voice_line *line_of_tts_turn(sova_voice *v, uint32_t turn)
{
	for (size_t i = 0; i < v->count; i++) {
		voice_line *l = line_at(v, i);
		if (l->tts_turn == turn && l->num_chunks > 0)
			return l;
	}
	return NULL;
}

static void pop_front(sova_voice *v)
{
	voice_line *l = front(v);
	if (!l)
		return;
	v->queued -= l->audio_len - l->audio_read;
	free(l->text);
	free(l->chunks);
	free(l->marks);
	free(l->mark_text);
	free(l->audio);
	memset(l, 0, sizeof *l);
	v->head = (v->head + 1) % SOVA_VOICE_MAX_LINES;
	v->count--;
}

static bool agent_speaking(sova_voice *v)
{
	voice_line *l = front(v);
	return v->answered && l && l->started_out;
}

/* Appends s to out (capacity cap, NUL kept), cutting at the capacity. */
static void append(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		n = cap - *len - 1;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

/* The part of line l heard after played_ms of its audio (voice.h, "What was played"). Caller frees. */
static char *played_text(const sova_voice *v, const voice_line *l, uint64_t played_ms)
{
	size_t cap = l->text_len + l->mark_text_len + l->num_marks + 2, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	uint64_t start_ms = 0;
	for (size_t c = 0; c < l->num_chunks; c++) {
		const voice_chunk *ch = &l->chunks[c];
		const char *text = l->text + ch->text_off;
		uint64_t dur = ch->audio * 1000 / (uint64_t)v->tts_rate;
		bool complete = c + 1 < l->num_chunks || l->synth_done;
		if (complete && start_ms + dur <= played_ms) {
			append(out, cap, &len, text, ch->text_len);
			start_ms += dur;
			continue;
		}
		size_t words = sova_voice_count_words(text, ch->text_len), marks = 0, heard = 0;
		for (size_t m = 0; m < l->num_marks; m++)
			if (l->marks[m].chunk == c) {
				marks++;
				heard += l->marks[m].end_ms <= played_ms;
			}
		if (marks > 0 && marks != words) { /* the engine's words (a number read out, say): theirs */
			for (size_t m = 0, k = 0; m < l->num_marks && k < heard; m++)
				if (l->marks[m].chunk == c) {
					if (len && out[len - 1] != ' ')
						append(out, cap, &len, " ", 1);
					append(out, cap, &len, l->mark_text + l->marks[m].word_off, l->marks[m].word_len);
					k++;
				}
		} else {
			if (marks == 0)
				heard = dur > 0 && played_ms > start_ms ? (size_t)((played_ms - start_ms) * words / dur) : 0;
			append(out, cap, &len, text, sova_voice_word_prefix(text, ch->text_len, heard));
		}
		break;
	}
	while (len && (out[len - 1] == ' ' || out[len - 1] == '\n' || out[len - 1] == '\t'))
		out[--len] = '\0';
	return out;
}

/* Drops every line: barge-in (interrupted: INTERRUPTED events, later chunks of the unfinished
 * line dropped) or the owner's cancel. */
static void stop_lines(sova_voice *v, bool interrupted)
{
	voice_line *l = front(v);
	bool out = l && l->started_out;
	uint64_t played = out ? sova_pacer_played_ms(v->pacer) : 0;
	char *text = interrupted && l ? played_text(v, l, played) : NULL;
	sova_pacer_clear(v->pacer);
	size_t tail;
	sova_resampler_flush(v->from_tts, v->rs_pcm, v->rs_cap, &tail); /* the filter's memory of the dropped audio */
	sova_tts_cancel(v->tts);
	if (out) {
		sova_voice_event ev = {.kind = SOVA_VOICE_CLEAR, .turn = l->id, .confidence = -1};
		emit(v, &ev);
	}
	voice_line *last = newest(v);
	v->zombie = interrupted && last && !last->final_said ? last->id : 0;
	for (bool first = true; v->count; first = false) {
		if (interrupted) {
			sova_voice_event ev = {.kind = SOVA_VOICE_INTERRUPTED, .turn = front(v)->id, .confidence = -1,
					       .text = first ? (text ? text : "") : "", .played_ms = first ? played : 0};
			emit(v, &ev);
		}
		pop_front(v);
	}
	free(text);
	v->queued = 0;
}

/* Where the first clause of s ends, with the spaces after it; 0 when s has no complete clause. */
static size_t clause_end(const char *s, size_t n)
{
	size_t e = sova_tts_clause_end(s, n);
	while (e && e < n && (s[e] == ' ' || s[e] == '\n' || s[e] == '\t'))
		e++;
	return e;
}

/* Hands text[off, off+len) of l to the synthesizer (audio may come back inside the call). */
static void hand(sova_voice *v, voice_line *l, size_t off, size_t len, bool last)
{
	if (!grow((void **)&l->chunks, &l->chunks_cap, l->num_chunks + 1, sizeof *l->chunks)) {
		emit_error(v, false, "tts: out of memory%s", "");
		l->tts_final = l->synth_done = true;
		return;
	}
	bool first = l->num_chunks == 0;
	l->chunks[l->num_chunks++] = (voice_chunk){.text_off = off, .text_len = len};
	if (first) /* every line ends its synthesizer turn (final or cancel), so this one is the next */
		l->tts_turn = v->tts->turn + 1;
	l->handed = off + len;
	if (last)
		l->tts_final = true;
	char err[256];
	bool ok = sova_tts_say(v->tts, l->text + off, len, last, err, sizeof err);
	if (first)
		l->tts_turn = v->tts->turn;
	if (!ok) {
		if (!l->synth_done) /* else its ERROR event said it already */
			emit_error(v, false, "tts: %s", err);
		l->tts_final = l->synth_done = true;
		l->handed = l->text_len;
	}
}

/* Gives the synthesizer the next clauses while little audio waits (voice.h, "Streaming"). */
static void feed_synth(sova_voice *v)
{
	size_t lookahead = (size_t)SOVA_VOICE_LOOKAHEAD_MS * (size_t)v->tts_rate / 1000;
	for (size_t i = 0; i < v->count; i++) {
		voice_line *l = line_at(v, i);
		while (!l->tts_final) {
			if (l->num_chunks > 0 && v->queued >= lookahead)
				return;
			size_t rest = l->text_len - l->handed, end = clause_end(l->text + l->handed, rest);
			if (end == 0) {
				if (!l->final_said)
					return;
				end = rest;
			}
			bool last = l->final_said && l->handed + end == l->text_len;
			if (blank(l->text + l->handed, end) && (!last || l->num_chunks == 0)) {
				l->handed += end;
				if (last) /* a line of nothing but spaces: no audio */
					l->tts_final = l->synth_done = true;
				continue;
			}
			hand(v, l, l->handed, end, last);
		}
	}
}

/* ---- outbound ---- */

static size_t pacer_buffered(const sova_voice *v)
{
	sova_pacer_stats st;
	sova_pacer_get_stats(v->pacer, &st);
	return st.buffered_samples;
}

/* Moves l's audio into the pacer until TOPUP_FRAMES frames are ready. */
static void top_up(sova_voice *v, voice_line *l)
{
	size_t target = TOPUP_FRAMES * v->frame_samples;
	while (l->audio_read < l->audio_len && pacer_buffered(v) < target) {
		size_t n = l->audio_len - l->audio_read < v->tts_step ? l->audio_len - l->audio_read : v->tts_step, out = 0;
		if (sova_resampler_process(v->from_tts, l->audio + l->audio_read, n, v->rs_pcm, v->rs_cap, &out) != 0)
			out = 0; /* cannot happen with these sizes; the audio is skipped rather than the call stopped */
		sova_pacer_push(v->pacer, v->rs_pcm, out);
		l->audio_read += n;
		v->queued -= n;
	}
	if (l->audio_read == l->audio_len)
		l->audio_read = l->audio_len = 0;
}

static void send_frame(sova_voice *v, const sova_pacer_frame *info)
{
	if (v->cfg.wire_encoding == SOVA_AUDIO_MULAW)
		sova_mulaw_encode_frame(v->out_pcm, v->frame_samples, v->out_wire);
	else
		sova_pcm16le_write(v->out_pcm, v->frame_samples, v->out_wire);
	v->cfg.on_frame(v->cfg.ud, v->out_wire, v->out_bytes);
	v->stats.frames_out++;
	int64_t late_ms = info->late_ns / NS_PER_MS;
	v->stats.late_ms[late_ms < SOVA_VOICE_LATE_BUCKETS - 1 ? late_ms : SOVA_VOICE_LATE_BUCKETS - 1]++;
	record(v, 0, sample_at(v, info->deadline_ns), v->out_pcm, v->frame_samples);
}

static void line_done(sova_voice *v)
{
	voice_line *l = front(v);
	sova_voice_event ev = {.kind = SOVA_VOICE_AGENT_DONE, .turn = l->id, .text = l->text, .confidence = -1,
			       .played_ms = l->line_begun ? sova_pacer_played_ms(v->pacer) : 0};
	emit(v, &ev);
	pop_front(v);
}

/* One frame of l went out: the line's first frame tells the owner, its last ends it. */
static void frame_out(sova_voice *v, voice_line *l, const sova_pacer_frame *info)
{
	send_frame(v, info);
	if (!l->started_out) {
		l->started_out = true;
		l->stamps.first_frame_out = now_ns(v);
		sova_voice_event ev = {.kind = SOVA_VOICE_AGENT_STARTED, .turn = l->id, .stamps = l->stamps, .confidence = -1};
		emit(v, &ev);
	}
	if (info->line_end)
		line_done(v);
}

static void playout(sova_voice *v)
{
	for (;;) {
		voice_line *l = front(v);
		if (!l) {
			/* Nothing to say: a poll of the empty pacer ends its talk spurt, so the next line
			 * starts a schedule of its own instead of bursting out to catch up the pause. */
			sova_pacer_frame info;
			int64_t next;
			(void)sova_pacer_poll(v->pacer, v->last_tick, v->out_pcm, &info, &next);
			return;
		}
		if (!l->line_begun) {
			sova_pacer_begin_line(v->pacer);
			l->line_begun = true;
		}
		top_up(v, l);
		if (!l->line_ended && l->synth_done && l->audio_len == 0) {
			size_t tail = 0;
			if (sova_resampler_flush(v->from_tts, v->rs_pcm, v->rs_cap, &tail) == 0)
				sova_pacer_push(v->pacer, v->rs_pcm, tail);
			sova_pacer_end_line(v->pacer);
			l->line_ended = true;
			if (pacer_buffered(v) == 0) { /* its last frame is out already (or it had none) */
				line_done(v);
				continue;
			}
		}
		sova_pacer_frame info;
		int64_t next;
		if (sova_pacer_poll(v->pacer, v->last_tick, v->out_pcm, &info, &next) != 1)
			return;
		frame_out(v, l, &info);
	}
}

/* A line's audio came between ticks while nothing plays: its first frame goes out now instead of
 * at the next tick (up to a frame sooner: the outbound stage), the rest on the ticks. */
static void start_between_ticks(sova_voice *v)
{
	voice_line *l = front(v);
	int64_t real = now_ns(v);
	if (!l || !v->answered || v->writer_busy || !v->last_tick || real - v->last_tick >= (int64_t)v->cfg.frame_ms * NS_PER_MS)
		return; /* not yet, or the owner's ticks are late: the next one plays it */
	if (!l->line_begun) {
		sova_pacer_begin_line(v->pacer);
		l->line_begun = true;
	}
	top_up(v, l);
	sova_pacer_frame info;
	int64_t next;
	if (sova_pacer_start_between_ticks(v->pacer, v->last_tick, v->out_pcm, &info, &next) == 1)
		frame_out(v, l, &info);
}

/* ---- the other party: utterances and turns ---- */

static void announce(sova_voice *v)
{
	if (v->announced)
		return;
	v->announced = true;
	sova_voice_event ev = {.kind = SOVA_VOICE_SPEECH_STARTED, .confidence = -1, .probe = v->hold};
	emit(v, &ev);
}

static void unannounce(sova_voice *v)
{
	if (!v->announced)
		return;
	v->announced = false;
	sova_voice_event ev = {.kind = SOVA_VOICE_SPEECH_STOPPED, .confidence = -1};
	emit(v, &ev);
}

static void reset_utterance(sova_voice *v)
{
	if (!v->vad_in_speech)
		unannounce(v);
	memset(&v->u, 0, sizeof v->u);
}

static void begin_utterance(sova_voice *v)
{
	if (v->u.active)
		return;
	memset(&v->u, 0, sizeof v->u);
	v->u.active = true;
	v->u.over_agent = agent_speaking(v);
}

static void end_turn(sova_voice *v)
{
	utterance *u = &v->u;
	if (u->over_agent && !u->barged &&
	    sova_voice_all_backchannels(u->finals, u->finals_len, v->backchannels, v->num_backchannels)) {
		v->stats.backchannels_ignored++;
		reset_utterance(v);
		return;
	}
	sova_voice_event ev = {.kind = SOVA_VOICE_END_OF_TURN, .text = u->finals, .turn = v->last_id,
			       .confidence = u->conf_unknown || u->conf_n == 0 ? -1 : u->conf_sum / u->conf_n};
	ev.stamps.speech_end = u->speech_end_ns ? u->speech_end_ns : u->last_text_ns;
	ev.stamps.final_transcript = u->final_ns;
	ev.stamps.turn_end = now_ns(v);
	v->answer = ev.stamps;
	v->answer_pending = true;
	v->stats.turns++;
	emit(v, &ev);
	reset_utterance(v);
}

static void drop_utterance(sova_voice *v)
{
	v->stats.utterances_dropped++;
	reset_utterance(v);
}

/* After finalize went unanswered, or the recognizer is gone: the finals, else the last interim. */
static void end_with_what_we_have(sova_voice *v)
{
	utterance *u = &v->u;
	if (u->finals_len == 0 && u->interim_len > 0) {
		memcpy(u->finals, u->interim, u->interim_len + 1);
		u->finals_len = u->interim_len;
		u->conf_unknown = true;
		u->final_ns = now_ns(v);
	}
	if (u->finals_len)
		end_turn(v);
	else
		drop_utterance(v);
}

static void stt_failed(sova_voice *v, const char *why)
{
	if (v->u.active && v->u.finals_len) /* the words heard so far are kept */
		end_turn(v);
	v->stt_broken = true;
	emit_error(v, true, "stt: %s", why);
}

static void check_turn_end(sova_voice *v)
{
	utterance *u = &v->u;
	if (!u->active || !recognizing(v) || v->vad_in_speech)
		return;
	uint64_t ref = u->vad_stopped ? u->speech_end_ms : u->last_text_ms;
	uint64_t silence = v->vad_now_ms > ref ? v->vad_now_ms - ref : 0;
	bool text = u->finals_len > 0;
	if (u->finalized) {
		end_with_what_we_have(v);
		return;
	}
	if (text && (u->endpoint || silence >= (uint64_t)v->turn_min_ms)) {
		end_turn(v);
		return;
	}
	if (!text && u->interim_len == 0 && u->endpoint && silence >= (uint64_t)v->turn_min_ms) {
		drop_utterance(v); /* the recognizer heard the speech end and no word in it */
		return;
	}
	/* Words heard but none final at min silence (a lagging or lax recognizer), or speech and no
	 * word at all at max silence: ask the recognizer for what it has. */
	if (!u->finalize_sent && ((u->interim_len && silence >= (uint64_t)v->turn_min_ms) || silence >= (uint64_t)v->turn_max_ms)) {
		if (v->stt_broken || !v->listening) {
			end_with_what_we_have(v);
			return;
		}
		u->finalize_sent = true;
		u->finalize_ns = now_ns(v);
		char err[256];
		if (!sova_stt_finalize(v->stt, err, sizeof err)) /* its FINAL (when synchronous) ends the turn */
			stt_failed(v, err);
	}
}

static void check_barge_in(sova_voice *v)
{
	utterance *u = &v->u;
	if (v->hold || v->no_barge_in || !u->active || u->barged || !agent_speaking(v) || !v->vad_in_speech ||
	    v->vad_now_ms - v->speech_start_ms < (uint64_t)v->barge_min_ms)
		return;
	char text[2 * SOVA_VOICE_MAX_UTTERANCE + 2];
	size_t len = 0;
	text[0] = '\0';
	append(text, sizeof text, &len, u->finals, u->finals_len);
	append(text, sizeof text, &len, " ", 1);
	append(text, sizeof text, &len, u->interim, u->interim_len);
	if (sova_voice_count_words(text, len) < (size_t)v->barge_min_words ||
	    sova_voice_all_backchannels(text, len, v->backchannels, v->num_backchannels))
		return;
	u->barged = true;
	v->stats.barge_ins++;
	stop_lines(v, true);
}

static void on_vad(sova_voice *v, const sova_vad_result *r)
{
	v->vad_now_ms = r->now_ms;
	if (r->event == SOVA_VAD_SPEECH_START) {
		v->vad_in_speech = true;
		v->speech_start_ms = r->event_at_ms;
		announce(v);
		if (recognizing(v)) {
			begin_utterance(v);
			v->u.vad_heard = true;
			v->u.vad_stopped = v->u.endpoint = false;
		}
	} else if (r->event == SOVA_VAD_SPEECH_STOP) {
		v->vad_in_speech = false;
		unannounce(v);
		if (v->u.active) {
			v->u.vad_stopped = true;
			v->u.speech_end_ms = r->event_at_ms;
			v->u.speech_end_ns = now_ns(v) - (int64_t)(r->now_ms - r->event_at_ms) * NS_PER_MS;
		}
	}
	check_barge_in(v);
	check_turn_end(v);
}

/* ---- the recognizer's and the synthesizer's events ---- */

/* Phrases in a SOVA_STT_PHRASES_DROPPED text ("|"-separated). */
static size_t count_phrases(const char *text)
{
	if (!text || !text[0])
		return 0;
	size_t n = 1;
	for (; *text; text++)
		n += *text == '|';
	return n;
}

void sova_voice_stt_callback(void *user, const sova_stt_event *ev)
{
	sova_voice *v = user;
	if (!v || !ev)
		return;
	utterance *u = &v->u;
	bool words = ev->text && ev->text[0];
	switch (ev->kind) {
	case SOVA_STT_SPEECH_STARTED:
		if (recognizing(v))
			announce(v);
		break;
	case SOVA_STT_INTERIM:
		if (!recognizing(v) || !words)
			break;
		begin_utterance(v);
		u->interim_len = 0;
		append(u->interim, sizeof u->interim, &u->interim_len, ev->text, strlen(ev->text));
		u->last_text_ms = v->vad_now_ms;
		u->last_text_ns = now_ns(v);
		{
			char text[2 * SOVA_VOICE_MAX_UTTERANCE + 2];
			size_t len = 0;
			text[0] = '\0';
			append(text, sizeof text, &len, u->finals, u->finals_len);
			if (len)
				append(text, sizeof text, &len, " ", 1);
			append(text, sizeof text, &len, u->interim, u->interim_len);
			sova_voice_event out = {.kind = SOVA_VOICE_INTERIM, .text = text, .turn = v->last_id, .confidence = ev->confidence};
			emit(v, &out);
		}
		check_barge_in(v);
		break;
	case SOVA_STT_FINAL:
		if (!recognizing(v))
			break;
		if (words) {
			begin_utterance(v);
			if (u->finals_len)
				append(u->finals, sizeof u->finals, &u->finals_len, " ", 1);
			append(u->finals, sizeof u->finals, &u->finals_len, ev->text, strlen(ev->text));
			if (ev->confidence < 0)
				u->conf_unknown = true;
			u->conf_sum += ev->confidence;
			u->conf_n++;
			u->interim_len = 0;
			u->interim[0] = '\0';
			u->last_text_ms = v->vad_now_ms;
			u->last_text_ns = u->final_ns = now_ns(v);
			sova_voice_event out = {.kind = SOVA_VOICE_FINAL, .text = ev->text, .turn = v->last_id, .confidence = ev->confidence};
			emit(v, &out);
		}
		if (!u->active)
			break;
		if (ev->speech_final)
			u->endpoint = true;
		if (ev->from_finalize && u->finalize_sent)
			u->finalized = true;
		check_barge_in(v);
		check_turn_end(v);
		break;
	case SOVA_STT_UTTERANCE_END:
		if (!recognizing(v) || !u->active)
			break;
		u->endpoint = true;
		check_turn_end(v);
		break;
	case SOVA_STT_PHRASES_DROPPED: {
		/* the phrases themselves may be the patient's (a name): counted, never written out */
		char count[24];
		snprintf(count, sizeof count, "%zu", count_phrases(ev->text));
		emit_error(v, false, "stt: the recognizer cannot hear %s of the expected phrases (words it does not know)", count);
		break;
	}
	case SOVA_STT_METADATA:
		break;
	case SOVA_STT_ERROR:
		stt_failed(v, ev->text ? ev->text : "the recognizer failed");
		break;
	}
}

static void take_audio(sova_voice *v, voice_line *l, const sova_tts_event *ev)
{
	size_t n = ev->num_samples;
	bool mulaw = ev->encoding == SOVA_AUDIO_MULAW;
	if (ev->sample_rate != v->tts_rate || !ev->data || ev->bytes != (mulaw ? n : 2 * n)) {
		emit_error(v, false, "tts: a frame that does not match the synthesizer's rate and format%s (dropped)", "");
		return;
	}
	if (v->queued + n > (size_t)SOVA_VOICE_MAX_QUEUED_MS * (size_t)v->tts_rate / 1000) {
		if (!l->overflow_reported)
			emit_error(v, false, "tts: more than %s ms of audio waiting to go out; the rest of the line is dropped", "60000");
		l->overflow_reported = true;
		return;
	}
	if (l->audio_read > 0 && l->audio_len + n > l->audio_cap) { /* reuse the space already played */
		memmove(l->audio, l->audio + l->audio_read, (l->audio_len - l->audio_read) * sizeof *l->audio);
		l->audio_len -= l->audio_read;
		l->audio_read = 0;
	}
	if (!grow((void **)&l->audio, &l->audio_cap, l->audio_len + n, sizeof *l->audio)) {
		emit_error(v, false, "tts: out of memory for the line's audio%s", "");
		return;
	}
	if (mulaw)
		sova_mulaw_decode_frame(ev->data, n, l->audio + l->audio_len);
	else
		sova_pcm16le_read(ev->data, n, l->audio + l->audio_len);
	l->audio_len += n;
	v->queued += n;
	if (ev->chunk < l->num_chunks)
		l->chunks[ev->chunk].audio += n;
	else if (l->num_chunks)
		l->chunks[l->num_chunks - 1].audio += n;
	if (!l->stamps.first_audio)
		l->stamps.first_audio = now_ns(v);
}

static void take_mark(sova_voice *v, voice_line *l, const sova_tts_event *ev)
{
	size_t wl = ev->text ? strlen(ev->text) : 0;
	if (!wl || !grow((void **)&l->marks, &l->marks_cap, l->num_marks + 1, sizeof *l->marks) ||
	    !grow((void **)&l->mark_text, &l->mark_text_cap, l->mark_text_len + wl + 1, 1))
		return; /* without this mark the played text falls back to the proportional rule */
	memcpy(l->mark_text + l->mark_text_len, ev->text, wl + 1);
	l->marks[l->num_marks++] = (voice_mark){.chunk = ev->chunk < l->num_chunks ? ev->chunk : l->num_chunks - 1,
						.end_ms = ev->end_s > 0 ? (uint64_t)(ev->end_s * 1000.0 + 0.5) : 0,
						.word_off = l->mark_text_len, .word_len = wl};
	l->mark_text_len += wl + 1;
	(void)v;
}

void sova_voice_tts_callback(void *user, const sova_tts_event *ev)
{
	sova_voice *v = user;
	if (!v || !ev)
		return;
	voice_line *l = line_of_tts_turn(v, ev->turn);
	if (!l) /* a cancelled line's leftovers from an asynchronous engine */
		return;
	switch (ev->kind) {
	case SOVA_TTS_AUDIO:
		take_audio(v, l, ev);
		if (l == front(v))
			start_between_ticks(v);
		break;
	case SOVA_TTS_MARK:
		take_mark(v, l, ev);
		break;
	case SOVA_TTS_CHUNK_DONE:
		break;
	case SOVA_TTS_DONE:
		l->synth_done = true;
		break;
	case SOVA_TTS_ERROR:
		emit_error(v, false, "tts: %s", ev->text ? ev->text : "the synthesizer failed");
		l->tts_final = l->synth_done = true;
		l->handed = l->text_len;
		break;
	}
}

/* ---- hearing the far end, and the hold ---- */

/* n samples (at most max_in) of the far end's audio to the VAD and the recognizer. */
static void hear(sova_voice *v, const int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t take = v->vad_frame - v->vad_len < n - i ? v->vad_frame - v->vad_len : n - i;
		memcpy(v->vad_buf + v->vad_len, pcm + i, take * sizeof *pcm);
		v->vad_len += take;
		i += take;
		if (v->vad_len == v->vad_frame) {
			v->vad_len = 0;
			sova_vad_result r;
			if (sova_vad_feed(v->vad, v->vad_buf, v->vad_frame, &r) == 0)
				on_vad(v, &r);
		}
	}
	if (v->listening && !v->stt_broken) {
		size_t out = 0;
		char why[256];
		if (sova_resampler_process(v->to_stt, pcm, n, v->stt_pcm, v->stt_cap, &out) != 0)
			stt_failed(v, "resampling the input failed");
		else if (!sova_stt_feed(v->stt, v->stt_pcm, out, why, sizeof why))
			stt_failed(v, why);
	}
}

/* The watcher's pre-roll to the VAD and the recognizer (the first words of whoever came back),
 * then the watcher forgets it. */
static void hear_preroll(sova_voice *v)
{
	const int16_t *part[2];
	size_t len[2];
	sova_hold_preroll(v->watcher, &part[0], &len[0], &part[1], &len[1]);
	for (int p = 0; p < 2; p++)
		for (size_t off = 0; off < len[p]; off += v->max_in)
			hear(v, part[p] + off, len[p] - off < v->max_in ? len[p] - off : v->max_in);
	v->unheard -= len[0] + len[1]; /* all of it came while watching, since the last reset */
	sova_hold_reset(v->watcher, false);
}

/* The watcher, empty, for a hold (after_voice: a probe's voice may go on, sova_hold_reset);
 * false when it cannot be made: then the recognizer keeps listening through the hold (costly,
 * but the representative is heard). */
static bool watch(sova_voice *v, bool after_voice)
{
	if (!v->watcher) {
		char why[128];
		v->watcher = sova_hold_new(v->cfg.wire_rate, NULL, why, sizeof why);
		if (!v->watcher) {
			emit_error(v, false, "%s; the recognizer keeps listening through the hold", why);
			return false;
		}
	}
	sova_hold_reset(v->watcher, after_voice);
	return true;
}

/* The watcher suspects a voice: recognition runs, from the pre-roll on. */
static void start_probe(sova_voice *v)
{
	v->probing = true;
	v->probe_samples = 0;
	v->stats.hold_probes++;
	announce(v); /* probe: on hold */
	hear_preroll(v);
}

/* The probe ran its length, or the owner heard a hold message: what was being said is no turn,
 * and the watcher looks again. */
static void end_probe(sova_voice *v)
{
	if (v->u.active)
		drop_utterance(v);
	unannounce(v);
	if (watch(v, true))
		v->probing = false;
}

/* ---- the API ---- */

static bool vad_opts_zero(const sova_vad_opts *o)
{
	static const sova_vad_opts zero;
	return memcmp(o, &zero, sizeof zero) == 0;
}

sova_voice *sova_voice_new(const sova_voice_config *cfg, char *err, size_t errlen)
{
	sova_stt *stt = cfg ? cfg->stt : NULL;
	sova_tts *tts = cfg ? cfg->tts : NULL;
	const char *bad = !cfg ? "no config" : !stt ? "no recognizer" : !tts ? "no synthesizer"
		: !cfg->on_event || !cfg->on_frame ? "on_event and on_frame are required"
		: !sova_audio_rate_ok(cfg->wire_rate) ? "wire_rate must be 8000, 16000 or 48000"
		: cfg->wire_encoding != SOVA_AUDIO_PCM16 && cfg->wire_encoding != SOVA_AUDIO_MULAW ? "unknown wire encoding"
		: cfg->frame_ms && sova_frame_samples(cfg->wire_rate, cfg->frame_ms) == 0 ? "frame_ms must be 10..100"
		: cfg->tick_ns < 0 || cfg->turn_min_silence_ms < 0 || cfg->turn_max_silence_ms < 0 || cfg->barge_in_min_ms < 0 || cfg->barge_in_min_words < 0 || cfg->probe_max_ms < 0 ? "negative setting"
		: cfg->num_backchannels && !cfg->backchannels ? "num_backchannels without backchannels"
		: NULL;
	int stt_rate = cfg && stt ? (cfg->stt_rate ? cfg->stt_rate : stt->config.sample_rate) : 0;
	int tts_rate = tts ? sova_tts_sample_rate(tts) : 0;
	if (!bad && !sova_audio_rate_ok(stt_rate))
		bad = "the recognizer's rate must be 8000, 16000 or 48000";
	if (!bad && !sova_audio_rate_ok(tts_rate))
		bad = "the synthesizer's rate must be 8000, 16000 or 48000";
	sova_voice *v = bad ? NULL : calloc(1, sizeof *v);
	if (!v) {
		snprintf(err, errlen, "voice: %s", bad ? bad : "out of memory");
		sova_stt_free(stt);
		sova_tts_free(tts);
		return NULL;
	}
	v->cfg = *cfg;
	v->stt = stt;
	v->tts = tts;
	v->cfg.stt = NULL; /* owned as v->stt, v->tts */
	v->cfg.tts = NULL;
	stt->callback = sova_voice_stt_callback;
	stt->user = v;
	tts->callback = sova_voice_tts_callback;
	tts->user = v;
	if (!v->cfg.frame_ms)
		v->cfg.frame_ms = 20;
	if (!v->cfg.clock)
		v->cfg.clock = sova_clock_monotonic_ns;
	v->stt_rate = stt_rate;
	v->tts_rate = tts_rate;
	v->turn_min_ms = cfg->turn_min_silence_ms ? cfg->turn_min_silence_ms : 500;
	v->turn_max_ms = cfg->turn_max_silence_ms ? cfg->turn_max_silence_ms : 2000;
	if (v->turn_max_ms < v->turn_min_ms)
		v->turn_max_ms = v->turn_min_ms;
	v->barge_min_ms = cfg->barge_in_min_ms ? cfg->barge_in_min_ms : 400;
	v->barge_min_words = cfg->barge_in_min_words ? cfg->barge_in_min_words : 2;
	v->no_barge_in = cfg->barge_in_off;
	v->probe_max = (uint64_t)(cfg->probe_max_ms ? cfg->probe_max_ms : SOVA_VOICE_PROBE_MAX_MS) * (uint64_t)cfg->wire_rate / 1000;
	v->backchannels = cfg->backchannels ? cfg->backchannels : SOVA_VOICE_BACKCHANNELS;
	v->num_backchannels = cfg->backchannels ? cfg->num_backchannels : SOVA_VOICE_NUM_BACKCHANNELS;

	sova_vad_opts vo = cfg->vad_opts;
	if (vad_opts_zero(&vo))
		sova_vad_opts_default(&vo);
	if (vo.min_silence_ms > v->turn_min_ms) /* the hangover must not outlast the turn's silence */
		vo.min_silence_ms = v->turn_min_ms;
	v->frame_samples = sova_frame_samples(v->cfg.wire_rate, v->cfg.frame_ms);
	v->max_in = sova_frame_samples(v->cfg.wire_rate, SOVA_FRAME_MAX_MS);
	v->tts_step = sova_frame_samples(tts_rate, v->cfg.frame_ms);
	v->out_bytes = v->frame_samples * (v->cfg.wire_encoding == SOVA_AUDIO_MULAW ? 1 : 2);
	char why[256] = "";
	v->vad = sova_vad_new(cfg->vad ? cfg->vad : SOVA_VAD_ENERGY, v->cfg.wire_rate, &vo, why, sizeof why);
	v->to_stt = v->vad ? sova_resampler_new(v->cfg.wire_rate, stt_rate, why, sizeof why) : NULL;
	v->from_tts = v->to_stt ? sova_resampler_new(tts_rate, v->cfg.wire_rate, why, sizeof why) : NULL;
	sova_pacer_config pc = {.sample_rate = v->cfg.wire_rate, .frame_ms = v->cfg.frame_ms, .capacity_ms = PACER_CAPACITY_MS,
				.early_ns = (v->cfg.tick_ns ? v->cfg.tick_ns : (int64_t)v->cfg.frame_ms * NS_PER_MS) / 2, /* half the owner's tick */
				.clock = v->cfg.clock, .clock_ud = v->cfg.clock_ud};
	v->pacer = v->from_tts ? sova_pacer_new(&pc, why, sizeof why) : NULL;
	if (v->pacer) {
		v->vad_frame = sova_vad_frame_samples(v->vad);
		v->stt_cap = sova_resampler_out_max(v->to_stt, v->max_in);
		v->rs_cap = sova_resampler_out_max(v->from_tts, v->tts_step) + sova_resampler_latency(v->from_tts) + 16;
		v->vad_buf = malloc(v->vad_frame * sizeof *v->vad_buf);
		v->in_pcm = malloc(v->max_in * sizeof *v->in_pcm);
		v->stt_pcm = malloc(v->stt_cap * sizeof *v->stt_pcm);
		v->rs_pcm = malloc(v->rs_cap * sizeof *v->rs_pcm);
		v->out_pcm = malloc(v->frame_samples * sizeof *v->out_pcm);
		v->out_wire = malloc(v->out_bytes);
		if (!v->vad_buf || !v->in_pcm || !v->stt_pcm || !v->rs_pcm || !v->out_pcm || !v->out_wire)
			snprintf(why, sizeof why, "out of memory");
	}
	if (!v->pacer || why[0]) {
		snprintf(err, errlen, "voice: %s", why);
		sova_voice_free(v);
		return NULL;
	}
	v->t0 = now_ns(v);
	return v;
}

void sova_voice_free(sova_voice *v)
{
	if (!v)
		return;
	while (v->count)
		pop_front(v);
	sova_stt_free(v->stt);
	sova_tts_free(v->tts);
	sova_vad_free(v->vad);
	sova_hold_free(v->watcher);
	sova_resampler_free(v->to_stt);
	sova_resampler_free(v->from_tts);
	sova_pacer_free(v->pacer);
	free(v->vad_buf);
	free(v->in_pcm);
	free(v->stt_pcm);
	free(v->rs_pcm);
	free(v->out_pcm);
	free(v->out_wire);
	free(v);
}

/* false when the frame arrives faster than real time (it is dropped and counted). */
static bool within_real_time(sova_voice *v, size_t n, int64_t now)
{
	if (!v->first_input_ns)
		v->first_input_ns = now;
	uint64_t allowed = (uint64_t)(now - v->first_input_ns) / 1000 * (uint64_t)v->cfg.wire_rate / 1000000u +
			   (uint64_t)SOVA_VOICE_INPUT_BURST_MS * (uint64_t)v->cfg.wire_rate / 1000u;
	if (v->in_samples + n <= allowed) {
		v->in_samples += n;
		return true;
	}
	v->dropped_samples += n;
	v->stats.input_dropped_ms = v->dropped_samples * 1000 / (uint64_t)v->cfg.wire_rate;
	if (!v->flood_reported_ns || now - v->flood_reported_ns >= 1000 * NS_PER_MS) {
		v->flood_reported_ns = now;
		char ms[32];
		snprintf(ms, sizeof ms, "%llu", (unsigned long long)v->stats.input_dropped_ms);
		emit_error(v, false, "input: audio arriving faster than real time; %s ms dropped so far", ms);
	}
	return false;
}

bool sova_voice_input(sova_voice *v, const void *wire, size_t len, char *err, size_t errlen)
{
	if (!v) {
		snprintf(err, errlen, "input: no voice");
		return false;
	}
	bool mulaw = v->cfg.wire_encoding == SOVA_AUDIO_MULAW;
	size_t n = mulaw ? len : len / 2;
	const char *bad = !wire || len == 0 ? "empty frame" : !mulaw && len % 2 ? "odd PCM16 length (not whole samples)"
						   : n > v->max_in ? "frame longer than 100 ms" : NULL;
	if (bad) {
		v->stats.input_refused++;
		snprintf(err, errlen, "input: %s (%zu bytes)", bad, len);
		return false;
	}
	int64_t now = now_ns(v);
	if (!within_real_time(v, n, now))
		return true;
	v->stats.frames_in++;
	if (mulaw)
		sova_mulaw_decode_frame(wire, n, v->in_pcm);
	else
		sova_pcm16le_read(wire, n, v->in_pcm);

	if (v->cfg.record && !v->record_failed) {
		uint64_t wall = sample_at(v, now), start = wall >= n ? wall - n : 0;
		if (!v->rec_in_anchored || start > v->rec_in_pos + (uint64_t)v->cfg.wire_rate * REANCHOR_MS / 1000) {
			v->rec_in_pos = start;
			v->rec_in_anchored = true;
		}
		record(v, 1, v->rec_in_pos, v->in_pcm, n);
		v->rec_in_pos += n;
	}

	if (v->hold && !v->probing) { /* watching: the recognizer hears nothing */
		v->unheard += n;
		if (sova_hold_feed(v->watcher, v->in_pcm, n))
			start_probe(v); /* its pre-roll ends with this frame */
		return true;
	}
	hear(v, v->in_pcm, n);
	if (v->probing && v->watcher && (v->probe_samples += n) >= v->probe_max)
		end_probe(v);
	check_turn_end(v);
	return true;
}

void sova_voice_pace(sova_voice *v, int64_t tick_ns, bool writer_busy)
{
	if (!v)
		return;
	v->last_tick = tick_ns;
	v->writer_busy = writer_busy;
	v->paced = true;
	if (v->answered && !writer_busy)
		playout(v);
}

void sova_voice_tick(sova_voice *v, int64_t tick_ns, bool writer_busy)
{
	if (!v)
		return;
	if (!v->paced)
		sova_voice_pace(v, tick_ns, writer_busy);
	v->paced = false;
	utterance *u = &v->u;
	if (u->active && u->finalize_sent && !u->finalized && now_ns(v) - u->finalize_ns >= SOVA_VOICE_FINALIZE_WAIT_MS * NS_PER_MS)
		end_with_what_we_have(v);
	feed_synth(v);
}

bool sova_voice_listen(sova_voice *v, const sova_stt_options *opt, char *err, size_t errlen)
{
	if (!v) {
		snprintf(err, errlen, "listen: no voice");
		return false;
	}
	if (v->stt_broken) {
		snprintf(err, errlen, "listen: the recognizer failed earlier");
		return false;
	}
	if (!sova_stt_start(v->stt, opt, err, errlen))
		return false;
	v->listening = true;
	return true;
}

uint32_t sova_voice_say(sova_voice *v, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	if (!v || (!text && len)) {
		snprintf(err, errlen, "say: %s", v ? "no text" : "no voice");
		return 0;
	}
	if (len && memchr(text, '\0', len)) {
		snprintf(err, errlen, "say: text contains a NUL byte");
		return 0;
	}
	if (v->zombie) { /* the rest of an interrupted line: nobody hears it */
		uint32_t id = v->zombie;
		if (final)
			v->zombie = 0;
		return id;
	}
	voice_line *l = newest(v);
	if (!l || l->final_said) {
		if (final && blank(text, len)) {
			snprintf(err, errlen, "say: an empty line");
			return 0;
		}
		if (v->count == SOVA_VOICE_MAX_LINES) {
			snprintf(err, errlen, "say: %d lines already waiting to be spoken", SOVA_VOICE_MAX_LINES);
			return 0;
		}
		l = line_at(v, v->count++);
		memset(l, 0, sizeof *l);
		l->id = ++v->last_id;
		if (v->answer_pending)
			l->stamps = v->answer;
		v->answer_pending = false;
		l->stamps.say_requested = now_ns(v);
	}
	if (l->text_len + len > SOVA_VOICE_MAX_LINE_TEXT || !grow((void **)&l->text, &l->text_cap, l->text_len + len + 1, 1)) {
		snprintf(err, errlen, "say: a line longer than %d bytes", SOVA_VOICE_MAX_LINE_TEXT);
		return 0;
	}
	if (len)
		memcpy(l->text + l->text_len, text, len);
	l->text_len += len;
	l->text[l->text_len] = '\0';
	if (final)
		l->final_said = true;
	feed_synth(v);
	return l->id;
}

void sova_voice_cancel(sova_voice *v)
{
	if (v && v->count)
		stop_lines(v, false);
}

void sova_voice_set_answered(sova_voice *v, bool answered)
{
	if (v)
		v->answered = answered;
}

void sova_voice_set_barge_in(sova_voice *v, bool on)
{
	if (v)
		v->no_barge_in = !on;
}

void sova_voice_set_hold(sova_voice *v, bool on)
{
	if (!v)
		return;
	if (on && v->hold) {
		if (v->probing)
			end_probe(v);
		return;
	}
	if (on) {
		v->hold = true;
		if (v->u.active) /* recognition is paused: what was being said is not a turn */
			drop_utterance(v);
		unannounce(v); /* the VAD does not run on hold: its speech-stop would never come */
		v->probing = !watch(v, false);
		return;
	}
	if (!v->hold)
		return;
	bool watching = !v->probing;
	v->hold = v->probing = false;
	if (watching) /* what was said just before the owner ended the hold */
		hear_preroll(v);
}

void sova_voice_get_stats(const sova_voice *v, sova_voice_stats *out)
{
	*out = v->stats;
	sova_pacer_stats ps;
	sova_pacer_get_stats(v->pacer, &ps);
	out->frames_late = ps.frames_late;
	out->underruns = ps.underruns;
	out->queued_ms = v->queued * 1000 / (size_t)v->tts_rate;
	out->hold_bytes = v->unheard * (uint64_t)v->stt_rate / (uint64_t)v->cfg.wire_rate * 2;
}
