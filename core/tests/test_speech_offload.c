/* core/bot/speech/offload.c: blocking engines on workers, events on the owner's thread. A slow
 * scripted recognizer shows order, delivery and bounds; flite shows a real synthesizer cancelled
 * across threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bot/speech/offload.h"
#include "bot/speech/tts_flite.h"

static char err[256];

/* ---- a recognizer that takes its time: FINAL "n<samples so far>" per feed, on the worker ---- */

/* GATED as a sleep: a feed waits until the test opens the gate (a stall no machine outlasts) */
#define GATED (-1)
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void open_gate(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

typedef struct slow_stt {
	sova_stt base;
	size_t samples;
	int sleep_us;
	pthread_t feeder; /* the thread that ran the last feed */
	int *freed;       /* set when destroyed */
} slow_stt;

static bool slow_start(sova_stt *r, const sova_stt_options *opt, char *e, size_t el)
{
	(void)r, (void)e, (void)el;
	assert_int_equal(opt->num_phrases, 2);
	assert_string_equal(opt->phrases[1], "no"); /* copied: the caller's array is gone by now */
	return true;
}

static bool slow_feed(sova_stt *base, const int16_t *pcm, size_t n, char *e, size_t el)
{
	slow_stt *r = (slow_stt *)base;
	if (pcm[0] == -1) {
		snprintf(e, el, "stt: the engine refused the audio");
		return false;
	}
	if (r->sleep_us == GATED) {
		pthread_mutex_lock(&gate_lock);
		while (!gate_open)
			pthread_cond_wait(&gate_cond, &gate_lock);
		pthread_mutex_unlock(&gate_lock);
	} else {
		usleep((useconds_t)r->sleep_us);
	}
	r->samples += n;
	r->feeder = pthread_self();
	char text[32];
	snprintf(text, sizeof text, "n%zu", r->samples);
	sova_stt_word w = {.word = "word", .start_s = 0.5, .end_s = 0.75, .confidence = 0.9f};
	sova_stt_event ev = {.kind = SOVA_STT_FINAL, .text = text, .words = &w, .num_words = 1, .confidence = 0.9f};
	r->base.callback(r->base.user, &ev);
	return true;
}

static bool slow_finalize(sova_stt *r, char *e, size_t el) { (void)r, (void)e, (void)el; return true; }
static void slow_close(sova_stt *r) { (void)r; }
static void slow_destroy(sova_stt *base)
{
	slow_stt *r = (slow_stt *)base;
	if (r->freed)
		(*r->freed)++;
	free(r);
}

static const sova_stt_vtable SLOW_VT = {"slow", slow_start, slow_feed, slow_finalize, slow_close, slow_destroy};

static sova_stt *new_slow(int sleep_us, int *freed)
{
	slow_stt *r = calloc(1, sizeof *r);
	assert_non_null(r);
	sova_stt_config c = {.sample_rate = 16000};
	sova_stt_init_base(&r->base, &SLOW_VT, &c, NULL, NULL);
	r->sleep_us = sleep_us;
	r->freed = freed;
	return &r->base;
}

typedef struct heard {
	char texts[64][32];
	int n, errors;
	pthread_t thread;
	sova_stt *free_me; /* freed from inside the first callback */
} heard;

static void on_text(void *user, const sova_stt_event *ev)
{
	heard *h = user;
	h->thread = pthread_self();
	if (ev->kind == SOVA_STT_ERROR) {
		h->errors++;
		snprintf(h->texts[h->n++ % 64], 32, "error");
		return;
	}
	assert_int_equal(ev->num_words, 1);
	assert_string_equal(ev->words[0].word, "word");
	snprintf(h->texts[h->n++ % 64], 32, "%s", ev->text);
	if (h->free_me) {
		sova_stt_free(h->free_me);
		h->free_me = NULL;
	}
}

/* Delivers until pred holds, or gives up after about 10 s. */
static void deliver_until(sova_offload *o, heard *h, int n)
{
	for (int i = 0; i < 10000 && h->n < n; i++) {
		sova_offload_deliver(o);
		if (h->n < n)
			usleep(1000);
	}
}

static const int16_t TEN_MS[160];

static void feeds_run_in_order_and_deliver_on_the_owners_thread(void **state)
{
	(void)state;
	sova_offload *o = sova_offload_new(2, 0, NULL, NULL, err, sizeof err);
	assert_non_null(o);
	heard h = {0};
	int freed = 0;
	sova_stt *r = sova_offload_stt(o, new_slow(2000, &freed), on_text, &h, err, sizeof err);
	assert_non_null(r);
	const char *phrases[] = {"yes", "no"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 2};
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	for (int i = 0; i < 5; i++)
		assert_true(sova_stt_feed(r, TEN_MS, 160, err, sizeof err)); /* returns before the 2 ms of work */
	assert_int_equal(h.n, 0); /* nothing is delivered until the owner asks */
	deliver_until(o, &h, 5);
	assert_int_equal(h.n, 5);
	for (int i = 0; i < 5; i++) {
		char want[16];
		snprintf(want, sizeof want, "n%d", 160 * (i + 1));
		assert_string_equal(h.texts[i], want);
	}
	assert_true(pthread_equal(h.thread, pthread_self()));
	sova_stt_free(r);
	sova_offload_free(o);
	assert_int_equal(freed, 1);
}

static void a_failed_feed_is_an_error_event(void **state)
{
	(void)state;
	sova_offload *o = sova_offload_new(1, 0, NULL, NULL, err, sizeof err);
	heard h = {0};
	sova_stt *r = sova_offload_stt(o, new_slow(0, NULL), on_text, &h, err, sizeof err);
	const char *phrases[] = {"yes", "no"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 2};
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	int16_t bad[160] = {-1};
	assert_true(sova_stt_feed(r, bad, 160, err, sizeof err));
	assert_true(sova_stt_feed(r, TEN_MS, 160, err, sizeof err));
	deliver_until(o, &h, 2);
	assert_int_equal(h.errors, 1);
	assert_string_equal(h.texts[0], "error");
	assert_string_equal(h.texts[1], "n160"); /* the engine goes on after a refused frame */
	sova_stt_free(r);
	sova_offload_free(o);
}

static void a_stalled_engine_cannot_queue_without_bound(void **state)
{
	(void)state;
	sova_offload *o = sova_offload_new(1, 0, NULL, NULL, err, sizeof err);
	heard h = {0};
	int freed = 0;
	/* a feed waits at the gate until the loop below is over: the worker takes at most the first
	 * (a timed stall was outlasted under load: the worker drained the queue in the loop's middle) */
	sova_stt *r = sova_offload_stt(o, new_slow(GATED, &freed), on_text, &h, err, sizeof err);
	const char *phrases[] = {"yes", "no"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 2};
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	static int16_t second[16000];
	int taken = 0;
	bool refused = false;
	for (int i = 0; i < 30 && !refused; i++) {
		if (sova_stt_feed(r, second, 16000, err, sizeof err))
			taken++;
		else
			refused = true;
	}
	assert_true(refused);
	assert_non_null(strstr(err, "behind"));
	assert_in_range(taken, SOVA_OFFLOAD_MAX_QUEUED_SECONDS - 1, SOVA_OFFLOAD_MAX_QUEUED_SECONDS + 1);
	sova_stt_free(r); /* while the worker may be in the middle of a stalled feed */
	open_gate();
	sova_offload_free(o);
	assert_int_equal(freed, 1);
}

static void an_engine_freed_inside_its_own_callback_is_freed_once(void **state)
{
	(void)state;
	sova_offload *o = sova_offload_new(1, 0, NULL, NULL, err, sizeof err);
	heard h = {0};
	int freed = 0;
	sova_stt *r = sova_offload_stt(o, new_slow(0, &freed), on_text, &h, err, sizeof err);
	const char *phrases[] = {"yes", "no"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 2};
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	assert_true(sova_stt_feed(r, TEN_MS, 160, err, sizeof err));
	assert_true(sova_stt_feed(r, TEN_MS, 160, err, sizeof err));
	h.free_me = r;
	for (int i = 0; i < 2000 && freed == 0; i++) {
		sova_offload_deliver(o);
		usleep(1000);
	}
	assert_int_equal(freed, 1);
	assert_true(h.n >= 1 && h.n <= 2); /* the first event freed it: at most the one after is gone too */
	sova_offload_free(o);
}

static atomic_int notified;
static void bump(void *ud) { atomic_fetch_add((atomic_int *)ud, 1); }

static void notify_fires_when_events_wait(void **state)
{
	(void)state;
	atomic_store(&notified, 0);
	sova_offload *o = sova_offload_new(1, 0, bump, &notified, err, sizeof err);
	heard h = {0};
	sova_stt *r = sova_offload_stt(o, new_slow(0, NULL), on_text, &h, err, sizeof err);
	const char *phrases[] = {"yes", "no"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 2};
	assert_true(sova_stt_start(r, &opt, err, sizeof err));
	assert_true(sova_stt_feed(r, TEN_MS, 160, err, sizeof err));
	for (int i = 0; i < 5000 && atomic_load(&notified) == 0; i++)
		usleep(1000);
	assert_true(atomic_load(&notified) >= 1);
	assert_int_equal(h.n, 0);
	assert_int_equal(sova_offload_deliver(o), 1);
	assert_string_equal(h.texts[0], "n160");
	sova_stt_free(r);
	sova_offload_free(o);
}

static sova_stt *make_slow(void *ud, const sova_stt_config *cfg, char *e, size_t el)
{
	assert_int_equal(cfg->sample_rate, 16000);
	if (!ud) {
		snprintf(e, el, "pocketsphinx: the model is missing");
		return NULL;
	}
	usleep(20000); /* a decoder that takes its time to load */
	return new_slow(0, ud);
}

static void a_lazy_engine_is_made_on_a_worker_and_a_failure_said_once(void **state)
{
	(void)state;
	sova_offload *o = sova_offload_new(1, 0, NULL, NULL, err, sizeof err);
	sova_stt_config c = {.sample_rate = 16000};
	const char *phrases[] = {"yes", "no"};
	sova_stt_options opt = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = phrases, .num_phrases = 2};
	int freed = 0;
	heard h = {0};
	sova_stt *r = sova_offload_stt_lazy(o, &c, make_slow, &freed, on_text, &h, err, sizeof err);
	assert_non_null(r);
	assert_true(sova_stt_start(r, &opt, err, sizeof err)); /* queued behind the making */
	assert_true(sova_stt_feed(r, TEN_MS, 160, err, sizeof err));
	deliver_until(o, &h, 1);
	assert_string_equal(h.texts[0], "n160");
	sova_stt_free(r);

	heard bad = {0};
	sova_stt *broken = sova_offload_stt_lazy(o, &c, make_slow, NULL, on_text, &bad, err, sizeof err);
	assert_non_null(broken);
	assert_true(sova_stt_start(broken, &opt, err, sizeof err));
	assert_true(sova_stt_feed(broken, TEN_MS, 160, err, sizeof err));
	deliver_until(o, &bad, 1);
	for (int i = 0; i < 50; i++) {
		sova_offload_deliver(o);
		usleep(1000);
	}
	assert_int_equal(bad.n, 1);
	assert_int_equal(bad.errors, 1);
	sova_stt_free(broken);
	sova_offload_free(o);
	assert_int_equal(freed, 1);
}

/* ---- flite, cancelled across threads ---- */

typedef struct spoken {
	int frames, done, errors;
	uint32_t last_turn;
	sova_tts *tts;
	int cancel_after;
} spoken;

static void on_audio(void *user, const sova_tts_event *ev)
{
	spoken *s = user;
	if (ev->kind == SOVA_TTS_AUDIO) {
		s->frames++;
		s->last_turn = ev->turn;
		if (s->cancel_after && s->frames == s->cancel_after)
			sova_tts_cancel(s->tts);
	} else if (ev->kind == SOVA_TTS_DONE) {
		s->done++;
		s->last_turn = ev->turn;
	} else if (ev->kind == SOVA_TTS_ERROR) {
		s->errors++;
	}
}

static const char LONG[] = "Hi, this is Alexandra calling from Sunrise Surgical Center on behalf of Doctor Patel. "
			   "I'm calling to verify prior authorization for procedure code two seven four four seven.";

static void flite_speaks_off_thread_and_cancel_stops_the_turn(void **state)
{
	(void)state;
	sova_offload *o = sova_offload_new(1, 0, NULL, NULL, err, sizeof err);
	spoken s = {0};
	sova_tts_config c = {.voice = "cmu_us_slt"};
	sova_tts *inner = sova_tts_flite_new(&c, on_audio, &s, err, sizeof err); /* the wrapper takes the callback over */
	assert_non_null(inner);
	sova_tts *t = sova_offload_tts(o, inner, on_audio, &s, err, sizeof err);
	assert_non_null(t);
	assert_int_equal(sova_tts_sample_rate(t), 16000);
	s.tts = t;

	/* a whole turn: audio, then DONE */
	assert_true(sova_tts_say(t, "Yes, I'm here.", 14, true, err, sizeof err));
	for (int i = 0; i < 5000 && !s.done; i++) {
		sova_offload_deliver(o);
		usleep(1000);
	}
	assert_int_equal(s.done, 1);
	assert_true(s.frames > 10);
	int first_turn_frames = s.frames;

	/* cancelled after three frames: nothing more of that turn arrives */
	s.cancel_after = first_turn_frames + 3;
	assert_true(sova_tts_say(t, LONG, strlen(LONG), false, err, sizeof err));
	assert_true(sova_tts_say(t, " More text that must never be heard.", 36, true, err, sizeof err));
	for (int i = 0; i < 3000; i++) {
		sova_offload_deliver(o);
		usleep(1000);
	}
	assert_int_equal(s.frames, first_turn_frames + 3);
	assert_int_equal(s.done, 1);
	assert_int_equal(s.errors, 0);

	/* and the next turn speaks */
	s.cancel_after = 0;
	assert_true(sova_tts_say(t, "Thank you.", 10, true, err, sizeof err));
	for (int i = 0; i < 5000 && s.done < 2; i++) {
		sova_offload_deliver(o);
		usleep(1000);
	}
	assert_int_equal(s.done, 2);
	assert_int_equal(s.last_turn, 3);
	sova_tts_free(t);
	sova_offload_free(o);
}

/* ---- synthesizers first ---- */

static atomic_int order; /* bumped by each engine's work as it runs */
static int stt_ran_at, tts_ran_at;
static atomic_bool busy_done;

static bool ordered_feed(sova_stt *base, const int16_t *pcm, size_t n, char *e, size_t el)
{
	(void)pcm, (void)n, (void)e, (void)el;
	usleep((useconds_t)((slow_stt *)base)->sleep_us);
	if (((slow_stt *)base)->sleep_us == 0)
		stt_ran_at = atomic_fetch_add(&order, 1);
	else
		atomic_store(&busy_done, true);
	return true;
}
static const sova_stt_vtable ORDERED_VT = {"ordered", slow_start, ordered_feed, slow_finalize, slow_close, slow_destroy};

static bool quick_say(sova_tts *t, const char *text, size_t len, bool final, char *e, size_t el)
{
	(void)t, (void)text, (void)len, (void)final, (void)e, (void)el;
	tts_ran_at = atomic_fetch_add(&order, 1);
	return true;
}
static void quick_nothing(sova_tts *t) { (void)t; }
static void quick_destroy(sova_tts *t) { free(t); }
static const sova_tts_vtable QUICK_VT = {"quick", quick_say, quick_nothing, quick_nothing, quick_destroy};

/* A line's clauses queued at once run as one batch on a worker: the first clause's audio reaches
 * the owner while the next is still being made, not after the whole batch. */
static atomic_bool slow_clause_running;

static bool clause_say(sova_tts *t, const char *text, size_t len, bool final, char *e, size_t el)
{
	(void)len, (void)final, (void)e, (void)el;
	if (!strncmp(text, "slow", 4)) {
		atomic_store(&slow_clause_running, true);
		usleep(300000);
		atomic_store(&slow_clause_running, false);
	}
	static const int16_t pcm[160];
	sova_tts_event ev = {.kind = SOVA_TTS_AUDIO, .data = pcm, .bytes = sizeof pcm, .num_samples = 160,
			     .sample_rate = 16000, .encoding = SOVA_AUDIO_PCM16, .turn = 1};
	t->callback(t->user, &ev);
	return true;
}
static const sova_tts_vtable CLAUSE_VT = {"clauses", clause_say, quick_nothing, quick_nothing, quick_destroy};

/* A pool whose general workers are all busy: a recognizer's 200 ms feed was taken 50 ms ago. */
typedef struct busy_pool {
	sova_offload *o;
	heard h;
	sova_stt *busy;
	spoken sp;
	sova_tts *tts; /* a synthesizer of the given vtable, waiting to be used */
} busy_pool;

static const char *const YES_NO[] = {"yes", "no"};
static const sova_stt_options YES_NO_OPT = {.search = SOVA_STT_SEARCH_GRAMMAR, .phrases = YES_NO, .num_phrases = 2};

static void busy_pool_start(busy_pool *b, int synth_workers, const sova_tts_vtable *tts_vt)
{
	memset(b, 0, sizeof *b);
	atomic_store(&order, 0);
	atomic_store(&busy_done, false);
	b->o = sova_offload_new(1, synth_workers, NULL, NULL, err, sizeof err);
	assert_non_null(b->o);
	sova_stt *inner_stt = new_slow(200000, NULL);
	inner_stt->vt = &ORDERED_VT;
	b->busy = sova_offload_stt(b->o, inner_stt, on_text, &b->h, err, sizeof err);
	sova_tts *inner = calloc(1, sizeof *inner);
	assert_non_null(inner);
	sova_tts_config tc = {0};
	sova_tts_init_base(inner, tts_vt, &tc, NULL, NULL);
	inner->sample_rate = 16000;
	b->tts = sova_offload_tts(b->o, inner, on_audio, &b->sp, err, sizeof err);
	assert_true(b->busy && b->tts);
	assert_true(sova_stt_start(b->busy, &YES_NO_OPT, err, sizeof err));
	usleep(20000);
	assert_true(sova_stt_feed(b->busy, TEN_MS, 160, err, sizeof err));
	usleep(50000);
}

static void busy_pool_stop(busy_pool *b)
{
	sova_stt_free(b->busy);
	sova_tts_free(b->tts);
	sova_offload_free(b->o);
}

/* Another recognizer's feed and a synthesizer's line wait for the one worker: the line goes first
 * (its first words are what the far end waits for). */
static void a_waiting_synthesizer_goes_before_waiting_recognizers(void **state)
{
	(void)state;
	busy_pool b;
	busy_pool_start(&b, 0, &QUICK_VT);
	heard h2 = {0};
	sova_stt *inner = new_slow(0, NULL);
	inner->vt = &ORDERED_VT;
	sova_stt *waiting = sova_offload_stt(b.o, inner, on_text, &h2, err, sizeof err);
	assert_non_null(waiting);
	assert_true(sova_stt_start(waiting, &YES_NO_OPT, err, sizeof err));
	assert_true(sova_stt_feed(waiting, TEN_MS, 160, err, sizeof err));
	assert_true(sova_tts_say(b.tts, "Hello.", 6, true, err, sizeof err));
	for (int i = 0; i < 2000 && atomic_load(&order) < 2; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&order), 2);
	assert_true(tts_ran_at < stt_ran_at);
	sova_stt_free(waiting);
	busy_pool_stop(&b);
}

/* With a synthesis worker, a line is spoken while the only other worker is still decoding. */
static void a_synthesis_worker_speaks_while_the_others_decode(void **state)
{
	(void)state;
	busy_pool b;
	busy_pool_start(&b, 1, &QUICK_VT);
	assert_true(sova_tts_say(b.tts, "Hello.", 6, true, err, sizeof err));
	for (int i = 0; i < 2000 && atomic_load(&order) < 1; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&order), 1);
	assert_false(atomic_load(&busy_done)); /* spoken before the decode ended */
	busy_pool_stop(&b);
}

static void a_clause_is_delivered_before_the_next_is_made(void **state)
{
	(void)state;
	busy_pool b;
	busy_pool_start(&b, 0, &CLAUSE_VT);
	assert_true(sova_tts_say(b.tts, "Hi, ", 4, false, err, sizeof err)); /* both wait: one batch */
	assert_true(sova_tts_say(b.tts, "slow rest of the line.", 22, true, err, sizeof err));
	bool early = false;
	for (int i = 0; i < 3000 && b.sp.frames < 2; i++) {
		sova_offload_deliver(b.o);
		if (b.sp.frames == 1 && atomic_load(&slow_clause_running))
			early = true;
		usleep(1000);
	}
	assert_true(early);
	assert_int_equal(b.sp.frames, 2);
	busy_pool_stop(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(feeds_run_in_order_and_deliver_on_the_owners_thread),
		cmocka_unit_test(a_failed_feed_is_an_error_event),
		cmocka_unit_test(a_stalled_engine_cannot_queue_without_bound),
		cmocka_unit_test(an_engine_freed_inside_its_own_callback_is_freed_once),
		cmocka_unit_test(notify_fires_when_events_wait),
		cmocka_unit_test(a_lazy_engine_is_made_on_a_worker_and_a_failure_said_once),
		cmocka_unit_test(a_waiting_synthesizer_goes_before_waiting_recognizers),
		cmocka_unit_test(a_synthesis_worker_speaks_while_the_others_decode),
		cmocka_unit_test(a_clause_is_delivered_before_the_next_is_made),
		cmocka_unit_test(flite_speaks_off_thread_and_cancel_stops_the_turn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
