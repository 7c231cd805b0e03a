/* Blocking speech engines on worker threads (offload.h). One mutex guards the pool: its ready
 * list (engines with jobs and no worker), its deliver list (engines with held events) and every
 * engine's queues; jobs and events themselves are built and run outside it. */
#include "bot/speech/offload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JOB_START = 1, JOB_FEED, JOB_FINALIZE, JOB_SAY, JOB_CLOSE, JOB_RELEASE, JOB_MAKE } job_kind;

typedef struct job {
	struct job *next;
	job_kind kind;
	uint32_t turn, chunk; /* say: the wrapper's numbering, given to the events it produces */
	bool final;
	sova_stt_options opt; /* start: phrases point into data */
	size_t n;             /* feed: samples; say: text bytes */
	void *data;           /* owned: samples, text, or the phrase pointers followed by their strings */
} job;

/* An event copied out of the inner engine's callback; its strings and buffers live in one block. */
typedef struct held {
	struct held *next;
	union {
		sova_stt_event stt;
		sova_tts_event tts;
	} ev;
} held;

typedef struct wrapped {
	union {
		sova_stt stt;
		sova_tts tts;
	} base; /* first: the pointer handed out is this */
	bool is_tts;
	sova_offload *pool;
	void *inner; /* owned: sova_stt * or sova_tts *, used by one worker at a time; NULL until made */
	sova_offload_stt_maker make; /* lazy: makes inner on the first job */
	void *make_ud;
	/* guarded by pool->mu */
	job *jobs, *jobs_tail;
	size_t queued_samples;
	held *events, *events_tail;
	bool running, ready, delivering, dying;
	bool in_callbacks; /* sova_offload_deliver is running this engine's callbacks */
	_Atomic uint32_t cancelled_turn; /* tts: text and held events of this turn and before are dropped */
	struct wrapped *next_ready, *next_deliver, *prev_all, *next_all;
	/* worker side: the job being run, for the inner callback */
	uint32_t job_turn, job_chunk;
	held *out, *out_tail; /* events of the running job, spliced into events after it */
} wrapped;

struct sova_offload {
	pthread_mutex_t mu;
	pthread_cond_t work;
	pthread_t *threads;
	struct worker_arg {
		struct sova_offload *o;
		bool synth_only;
	} *args;                /* one per thread (owned) */
	int n_threads;
	bool stopping;
	/* engines with jobs, in order; synthesizers are taken first: a line's first words are what the
	 * far end waits for, and a recognizer's batch (or its 0.5 s making) can wait that long */
	struct ready_list {
		wrapped *head, *tail;
	} ready_tts, ready_stt;
	wrapped *deliver;
	wrapped *all;
	void (*notify)(void *ud);
	void *notify_ud;
};

/* ---- copies of events ---- */

static size_t str_size(const char *s) { return s ? strlen(s) + 1 : 0; }

static char *put_str(char **at, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *out = memcpy(*at, s, n);
	*at += n;
	return out;
}

static held *copy_stt_event(const sova_stt_event *ev)
{
	size_t size = sizeof(held) + str_size(ev->text) + str_size(ev->request_id) + str_size(ev->model);
	size += ev->num_words * sizeof(sova_stt_word);
	for (size_t i = 0; i < ev->num_words; i++)
		size += str_size(ev->words[i].word) + str_size(ev->words[i].punctuated_word);
	held *h = malloc(size);
	if (!h)
		return NULL;
	h->next = NULL;
	h->ev.stt = *ev;
	char *at = (char *)(h + 1);
	sova_stt_word *words = NULL;
	if (ev->num_words) {
		words = (sova_stt_word *)at;
		at += ev->num_words * sizeof *words;
	}
	h->ev.stt.text = put_str(&at, ev->text);
	h->ev.stt.request_id = put_str(&at, ev->request_id);
	h->ev.stt.model = put_str(&at, ev->model);
	for (size_t i = 0; i < ev->num_words; i++) {
		words[i] = ev->words[i];
		words[i].word = put_str(&at, ev->words[i].word);
		words[i].punctuated_word = put_str(&at, ev->words[i].punctuated_word);
	}
	h->ev.stt.words = words;
	return h;
}

static held *copy_tts_event(const sova_tts_event *ev)
{
	size_t data = ev->data ? ev->bytes : 0;
	held *h = malloc(sizeof(held) + data + str_size(ev->text));
	if (!h)
		return NULL;
	h->next = NULL;
	h->ev.tts = *ev;
	char *at = (char *)(h + 1);
	h->ev.tts.data = data ? memcpy(at, ev->data, data) : NULL;
	at += data;
	h->ev.tts.text = put_str(&at, ev->text);
	return h;
}

static void free_held(held *h)
{
	while (h) {
		held *next = h->next;
		free(h);
		h = next;
	}
}

static void free_jobs(job *j)
{
	while (j) {
		job *next = j->next;
		free(j->data);
		free(j);
		j = next;
	}
}

/* ---- the inner engines' callbacks: on the worker running the job ---- */

static void keep(wrapped *w, held *h)
{
	if (!h)
		return; /* out of memory: the event is lost, as a dropped frame would be */
	if (w->out_tail)
		w->out_tail->next = h;
	else
		w->out = h;
	w->out_tail = h;
}

static void inner_stt_event(void *user, const sova_stt_event *ev) { keep(user, copy_stt_event(ev)); }

static void inner_tts_event(void *user, const sova_tts_event *ev)
{
	wrapped *w = user;
	sova_tts_event e = *ev;
	e.turn = w->job_turn; /* the wrapper's numbering, which its owner knows */
	if (e.kind != SOVA_TTS_DONE)
		e.chunk = w->job_chunk;
	keep(w, copy_tts_event(&e));
}

static void error_event(wrapped *w, const char *err)
{
	if (w->is_tts) {
		sova_tts_event ev = {.kind = SOVA_TTS_ERROR, .text = err, .turn = w->job_turn, .chunk = w->job_chunk};
		keep(w, copy_tts_event(&ev));
	} else {
		sova_stt_event ev = {.kind = SOVA_STT_ERROR, .text = err, .confidence = SOVA_SPEECH_CONFIDENCE_UNKNOWN};
		keep(w, copy_stt_event(&ev));
	}
}

/* ---- workers ---- */

static void inner_stt_event(void *user, const sova_stt_event *ev);

static void run_job(wrapped *w, job *j)
{
	char err[256] = "";
	bool ok = true;
	w->job_turn = j->turn;
	w->job_chunk = j->chunk;
	if (j->kind == JOB_MAKE) {
		sova_stt *r = w->make(w->make_ud, &w->base.stt.config, err, sizeof err);
		if (r) {
			r->callback = inner_stt_event;
			r->user = w;
			w->inner = r;
		} else {
			error_event(w, err[0] ? err : "the recognizer could not be made");
		}
		return;
	}
	if (!w->inner && j->kind != JOB_RELEASE)
		return; /* its making failed, and said so once */
	switch (j->kind) {
	case JOB_START:
		ok = sova_stt_start(w->inner, &j->opt, err, sizeof err);
		break;
	case JOB_FEED:
		ok = sova_stt_feed(w->inner, j->data, j->n, err, sizeof err);
		break;
	case JOB_FINALIZE:
		ok = sova_stt_finalize(w->inner, err, sizeof err);
		break;
	case JOB_RELEASE:
	case JOB_MAKE:
		break; /* release only makes the worker look at a freed engine */
	case JOB_SAY:
		if (j->turn <= atomic_load(&w->cancelled_turn))
			break; /* cancelled after this worker took its jobs */
		ok = sova_tts_say(w->inner, j->data, j->n, j->final, err, sizeof err);
		/* a cancelled turn fails its say: not an error anyone must hear of */
		if (!ok && atomic_load(&((sova_tts *)w->inner)->cancelled))
			ok = true;
		break;
	case JOB_CLOSE:
		if (w->is_tts)
			sova_tts_close(w->inner);
		else
			sova_stt_close(w->inner);
		break;
	}
	if (!ok)
		error_event(w, err);
}

static void free_wrapped(wrapped *w)
{
	if (w->inner && w->is_tts)
		sova_tts_free(w->inner);
	else if (w->inner)
		sova_stt_free(w->inner);
	free_jobs(w->jobs);
	free_held(w->events);
	free(w);
}

/* Under the lock: w leaves every list of the pool. */
static void unlink_all(sova_offload *o, wrapped *w)
{
	if (w->prev_all)
		w->prev_all->next_all = w->next_all;
	else
		o->all = w->next_all;
	if (w->next_all)
		w->next_all->prev_all = w->prev_all;
	if (w->delivering) {
		for (wrapped **p = &o->deliver; *p; p = &(*p)->next_deliver)
			if (*p == w) {
				*p = w->next_deliver;
				break;
			}
		w->delivering = false;
	}
}

/* Under the lock: whether a freed engine is now unused by every thread; if so it leaves the pool
 * and the caller frees it (after unlocking). */
static bool release_locked(sova_offload *o, wrapped *w)
{
	if (!w->dying || w->running || w->ready || w->jobs || w->in_callbacks)
		return false;
	unlink_all(o, w);
	return true;
}

static void schedule(sova_offload *o, wrapped *w)
{
	if (w->running || w->ready || !w->jobs)
		return;
	w->ready = true;
	w->next_ready = NULL;
	struct ready_list *l = w->is_tts ? &o->ready_tts : &o->ready_stt;
	if (l->tail)
		l->tail->next_ready = w;
	else
		l->head = w;
	l->tail = w;
	pthread_cond_broadcast(&o->work); /* a signal could wake only a synthesis worker for a recognizer */
}

/* Under the lock: a running engine's events so far go to its owner's thread (or away, once it
 * was freed). */
static void hand_over_locked(sova_offload *o, wrapped *w, held *out)
{
	if (!out)
		return;
	if (w->dying) {
		free_held(out);
		return;
	}
	held *tail = out;
	while (tail->next)
		tail = tail->next;
	if (w->events_tail)
		w->events_tail->next = out;
	else
		w->events = out;
	w->events_tail = tail;
	if (!w->delivering) {
		w->delivering = true;
		w->next_deliver = o->deliver;
		o->deliver = w;
	}
	if (o->notify)
		o->notify(o->notify_ud);
}

static void *worker(void *arg)
{
	sova_offload *o = ((struct worker_arg *)arg)->o;
	bool synth_only = ((struct worker_arg *)arg)->synth_only;
	(void)pthread_setname_np(pthread_self(), synth_only ? "sova-synth" : "sova-offload"); /* for /proc's comm */
	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->ready_tts.head && (synth_only || !o->ready_stt.head) && !o->stopping)
			pthread_cond_wait(&o->work, &o->mu);
		if (o->stopping)
			break;
		struct ready_list *l = o->ready_tts.head ? &o->ready_tts : &o->ready_stt;
		wrapped *w = l->head;
		l->head = w->next_ready;
		if (!l->head)
			l->tail = NULL;
		w->ready = false;
		w->running = true;
		job *jobs = w->jobs;
		w->jobs = w->jobs_tail = NULL;
		w->queued_samples = 0;
		pthread_mutex_unlock(&o->mu);

		for (job *j = jobs; j; j = j->next) {
			run_job(w, j);
			if (j->next && w->out) { /* a clause's audio goes out before the next is made */
				held *out = w->out;
				w->out = w->out_tail = NULL;
				pthread_mutex_lock(&o->mu);
				hand_over_locked(o, w, out);
				pthread_mutex_unlock(&o->mu);
			}
		}
		free_jobs(jobs);
		held *out = w->out;
		w->out = w->out_tail = NULL;

		pthread_mutex_lock(&o->mu);
		w->running = false;
		hand_over_locked(o, w, out);
		if (w->dying && release_locked(o, w)) {
			pthread_mutex_unlock(&o->mu);
			free_wrapped(w);
			pthread_mutex_lock(&o->mu);
			continue;
		}
		schedule(o, w);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

sova_offload *sova_offload_new(int workers, int synth_workers, void (*notify)(void *ud), void *notify_ud, char *err,
			       size_t errlen)
{
	if (workers < 1 || synth_workers < 0) {
		snprintf(err, errlen, "offload: at least one worker");
		return NULL;
	}
	int total = workers + synth_workers;
	sova_offload *o = calloc(1, sizeof *o);
	if (o) {
		o->threads = calloc((size_t)total, sizeof *o->threads);
		o->args = calloc((size_t)total, sizeof *o->args);
	}
	if (!o || !o->threads || !o->args) {
		if (o) {
			free(o->threads);
			free(o->args);
		}
		free(o);
		snprintf(err, errlen, "offload: out of memory");
		return NULL;
	}
	o->notify = notify;
	o->notify_ud = notify_ud;
	if (pthread_mutex_init(&o->mu, NULL) != 0 || pthread_cond_init(&o->work, NULL) != 0) {
		free(o->threads);
		free(o->args);
		free(o);
		snprintf(err, errlen, "offload: cannot make a lock");
		return NULL;
	}
	for (; o->n_threads < total; o->n_threads++) {
		o->args[o->n_threads] = (struct worker_arg){.o = o, .synth_only = o->n_threads >= workers};
		if (pthread_create(&o->threads[o->n_threads], NULL, worker, &o->args[o->n_threads]) != 0) {
			snprintf(err, errlen, "offload: cannot start worker %d", o->n_threads + 1);
			sova_offload_free(o);
			return NULL;
		}
	}
	return o;
}

void sova_offload_free(sova_offload *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->stopping = true;
	pthread_cond_broadcast(&o->work);
	pthread_mutex_unlock(&o->mu);
	for (int i = 0; i < o->n_threads; i++)
		pthread_join(o->threads[i], NULL);
	while (o->all) {
		wrapped *w = o->all;
		o->all = w->next_all;
		free_held(w->out);
		free_wrapped(w);
	}
	pthread_cond_destroy(&o->work);
	pthread_mutex_destroy(&o->mu);
	free(o->threads);
	free(o->args);
	free(o);
}

/* ---- the wrappers' vtables: on the owner's thread ---- */

static bool push_job(wrapped *w, job *j, char *err, size_t errlen)
{
	if (!j) {
		snprintf(err, errlen, "offload: out of memory");
		return false;
	}
	sova_offload *o = w->pool;
	pthread_mutex_lock(&o->mu);
	if (j->kind == JOB_FEED) {
		size_t rate = (size_t)w->base.stt.config.sample_rate;
		if (w->queued_samples + j->n > rate * SOVA_OFFLOAD_MAX_QUEUED_SECONDS) {
			pthread_mutex_unlock(&o->mu);
			free(j->data);
			free(j);
			snprintf(err, errlen, "the recognizer is behind: more than %d s of audio waiting", SOVA_OFFLOAD_MAX_QUEUED_SECONDS);
			return false;
		}
		w->queued_samples += j->n;
	}
	if (w->jobs_tail)
		w->jobs_tail->next = j;
	else
		w->jobs = j;
	w->jobs_tail = j;
	schedule(o, w);
	pthread_mutex_unlock(&o->mu);
	return true;
}

static job *new_job(job_kind kind, size_t data_bytes)
{
	job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->kind = kind;
	if (data_bytes && !(j->data = malloc(data_bytes))) {
		free(j);
		return NULL;
	}
	return j;
}

static bool w_stt_start(sova_stt *r, const sova_stt_options *opt, char *err, size_t errlen)
{
	size_t bytes = opt->num_phrases * sizeof(char *);
	for (size_t i = 0; i < opt->num_phrases; i++)
		bytes += strlen(opt->phrases[i]) + 1;
	job *j = new_job(JOB_START, bytes ? bytes : 1);
	if (j) {
		j->opt = *opt;
		const char **list = j->data;
		char *at = (char *)(list + opt->num_phrases);
		for (size_t i = 0; i < opt->num_phrases; i++)
			list[i] = put_str(&at, opt->phrases[i]);
		j->opt.phrases = opt->num_phrases ? list : NULL;
	}
	return push_job((wrapped *)r, j, err, errlen);
}

static bool w_stt_feed(sova_stt *r, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
	job *j = new_job(JOB_FEED, n * sizeof *pcm);
	if (j) {
		memcpy(j->data, pcm, n * sizeof *pcm);
		j->n = n;
	}
	return push_job((wrapped *)r, j, err, errlen);
}

static bool w_stt_finalize(sova_stt *r, char *err, size_t errlen)
{
	return push_job((wrapped *)r, new_job(JOB_FINALIZE, 0), err, errlen);
}

/* close: the inner engine closes on its worker, after the jobs before it */
static void w_close(wrapped *w)
{
	char err[64];
	sova_offload *o = w->pool;
	pthread_mutex_lock(&o->mu);
	free_held(w->events); /* nothing is delivered after close */
	w->events = w->events_tail = NULL;
	pthread_mutex_unlock(&o->mu);
	push_job(w, new_job(JOB_CLOSE, 0), err, sizeof err); /* out of memory: the free below closes it */
}

/* The inner engine is freed on a worker (a decoder's free can take milliseconds), or by
 * sova_offload_deliver when the free came from inside one of its callbacks. Marking it dying and
 * queueing the release happen under one lock: a worker finishing its last job in between would
 * otherwise free it first. */
static void w_destroy(wrapped *w)
{
	sova_offload *o = w->pool;
	job *release = new_job(JOB_RELEASE, 0);
	pthread_mutex_lock(&o->mu);
	w->dying = true;
	free_held(w->events);
	w->events = w->events_tail = NULL;
	bool now = false;
	if (release) {
		if (w->jobs_tail)
			w->jobs_tail->next = release;
		else
			w->jobs = release;
		w->jobs_tail = release;
		schedule(o, w);
	} else {
		now = release_locked(o, w); /* out of memory: free it here once nothing else holds it */
	}
	pthread_mutex_unlock(&o->mu);
	if (now)
		free_wrapped(w);
}

static void w_stt_close(sova_stt *r) { w_close((wrapped *)r); }
static void w_stt_destroy(sova_stt *r) { w_destroy((wrapped *)r); }

static bool w_tts_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	job *j = new_job(JOB_SAY, len + 1);
	if (j) {
		memcpy(j->data, text, len);
		((char *)j->data)[len] = '\0';
		j->n = len;
		j->final = final;
		j->turn = s->turn;
		j->chunk = s->chunk;
	}
	return push_job((wrapped *)s, j, err, errlen);
}

static void w_tts_cancel(sova_tts *s)
{
	wrapped *w = (wrapped *)s;
	sova_offload *o = w->pool;
	pthread_mutex_lock(&o->mu);
	atomic_store(&w->cancelled_turn, s->turn);
	/* the turn's text not yet synthesized, and its audio not yet delivered, go */
	job **p = &w->jobs;
	w->jobs_tail = NULL;
	while (*p) {
		job *j = *p;
		if (j->kind == JOB_SAY && j->turn <= s->turn) {
			*p = j->next;
			j->next = NULL;
			free_jobs(j);
		} else {
			w->jobs_tail = j;
			p = &j->next;
		}
	}
	pthread_mutex_unlock(&o->mu);
	sova_tts_cancel(w->inner); /* across threads: the worker's say stops at its next frame */
}

static void w_tts_close(sova_tts *s) { w_close((wrapped *)s); }
static void w_tts_destroy(sova_tts *s) { w_destroy((wrapped *)s); }

static const sova_stt_vtable STT_VT = {
	.name = "offloaded", .start = w_stt_start, .feed = w_stt_feed, .finalize = w_stt_finalize,
	.close = w_stt_close, .destroy = w_stt_destroy,
};
static const sova_tts_vtable TTS_VT = {
	.name = "offloaded", .say = w_tts_say, .cancel = w_tts_cancel, .close = w_tts_close, .destroy = w_tts_destroy,
};

static wrapped *new_wrapped(sova_offload *o, bool is_tts, void *inner)
{
	wrapped *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->pool = o;
	w->is_tts = is_tts;
	w->inner = inner;
	pthread_mutex_lock(&o->mu);
	w->next_all = o->all;
	if (o->all)
		o->all->prev_all = w;
	o->all = w;
	pthread_mutex_unlock(&o->mu);
	return w;
}

sova_stt *sova_offload_stt(sova_offload *o, sova_stt *inner, sova_stt_callback cb, void *user, char *err, size_t errlen)
{
	wrapped *w = o && inner ? new_wrapped(o, false, inner) : NULL;
	if (!w) {
		sova_stt_free(inner);
		snprintf(err, errlen, o && inner ? "offload: out of memory" : "offload: no pool or no engine");
		return NULL;
	}
	sova_stt_init_base(&w->base.stt, &STT_VT, &inner->config, cb, user);
	inner->callback = inner_stt_event;
	inner->user = w;
	return &w->base.stt;
}

sova_tts *sova_offload_tts(sova_offload *o, sova_tts *inner, sova_tts_callback cb, void *user, char *err, size_t errlen)
{
	wrapped *w = o && inner ? new_wrapped(o, true, inner) : NULL;
	if (!w) {
		sova_tts_free(inner);
		snprintf(err, errlen, o && inner ? "offload: out of memory" : "offload: no pool or no engine");
		return NULL;
	}
	sova_tts_init_base(&w->base.tts, &TTS_VT, &inner->config, cb, user);
	w->base.tts.sample_rate = inner->sample_rate;
	inner->callback = inner_tts_event;
	inner->user = w;
	return &w->base.tts;
}

sova_stt *sova_offload_stt_lazy(sova_offload *o, const sova_stt_config *cfg, sova_offload_stt_maker make, void *make_ud,
				sova_stt_callback cb, void *user, char *err, size_t errlen)
{
	wrapped *w = o && cfg && make ? new_wrapped(o, false, NULL) : NULL;
	if (!w) {
		snprintf(err, errlen, o && cfg && make ? "offload: out of memory" : "offload: no pool, config or maker");
		return NULL;
	}
	sova_stt_init_base(&w->base.stt, &STT_VT, cfg, cb, user);
	w->make = make;
	w->make_ud = make_ud;
	if (!push_job(w, new_job(JOB_MAKE, 0), err, errlen)) {
		sova_stt_free(&w->base.stt);
		return NULL;
	}
	return &w->base.stt;
}

/* ---- delivery: on the owner's thread ---- */

size_t sova_offload_deliver(sova_offload *o)
{
	size_t delivered = 0;
	for (;;) {
		pthread_mutex_lock(&o->mu);
		wrapped *w = o->deliver;
		if (!w) {
			pthread_mutex_unlock(&o->mu);
			return delivered;
		}
		o->deliver = w->next_deliver;
		w->delivering = false;
		w->in_callbacks = true;
		pthread_mutex_unlock(&o->mu);
		/* one event at a time: a callback may cancel or free its engine, which the next lock sees */
		for (;;) {
			pthread_mutex_lock(&o->mu);
			held *h = w->dying ? NULL : w->events;
			if (h) {
				w->events = h->next;
				if (!w->events)
					w->events_tail = NULL;
			}
			bool drop = h && w->is_tts && h->ev.tts.turn <= atomic_load(&w->cancelled_turn);
			bool gone = false;
			if (!h) {
				w->in_callbacks = false;
				gone = release_locked(o, w);
			}
			pthread_mutex_unlock(&o->mu);
			if (!h) {
				if (gone)
					free_wrapped(w);
				break;
			}
			if (!drop) {
				if (w->is_tts)
					w->base.tts.callback(w->base.tts.user, &h->ev.tts);
				else
					w->base.stt.callback(w->base.stt.user, &h->ev.stt);
				delivered++;
			}
			free(h);
		}
	}
}
