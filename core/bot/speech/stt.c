/* The checks every recognizer shares (stt.h), so an engine sees only valid calls. */
#include "bot/speech/stt.h"

#include <stdio.h>
#include <string.h>

static bool usable(const sova_stt *r, const char *what, char *err, size_t errlen)
{
	if (!r) {
		snprintf(err, errlen, "stt %s: no recognizer", what);
		return false;
	}
	if (r->closed) {
		snprintf(err, errlen, "stt %s: the recognizer is closed", what);
		return false;
	}
	return true;
}

void sova_stt_init_base(sova_stt *r, const sova_stt_vtable *vt, const sova_stt_config *cfg, sova_stt_callback cb, void *user)
{
	memset(r, 0, sizeof *r);
	r->vt = vt;
	r->config = *cfg;
	r->callback = cb;
	r->user = user;
}

bool sova_stt_start(sova_stt *r, const sova_stt_options *opt, char *err, size_t errlen)
{
	if (!usable(r, "start", err, errlen))
		return false;
	if (!opt) {
		snprintf(err, errlen, "stt start: no options");
		return false;
	}
	if (opt->search != SOVA_STT_SEARCH_OPEN && opt->search != SOVA_STT_SEARCH_GRAMMAR && opt->search != SOVA_STT_SEARCH_KEYWORDS) {
		snprintf(err, errlen, "stt start: unknown search %d", (int)opt->search);
		return false;
	}
	if (opt->search != SOVA_STT_SEARCH_OPEN && (opt->num_phrases == 0 || !opt->phrases)) {
		snprintf(err, errlen, "stt start: a grammar or keyword search needs phrases");
		return false;
	}
	for (size_t i = 0; i < opt->num_phrases; i++)
		if (!opt->phrases[i]) {
			snprintf(err, errlen, "stt start: phrase %zu is NULL", i);
			return false;
		}
	if (!r->vt->start(r, opt, err, errlen))
		return false;
	r->started = true;
	return true;
}

bool sova_stt_feed(sova_stt *r, const int16_t *pcm, size_t n, char *err, size_t errlen)
{
	if (!usable(r, "feed", err, errlen))
		return false;
	if (!r->started) {
		snprintf(err, errlen, "stt feed: start() first");
		return false;
	}
	if (n == 0)
		return true;
	if (!pcm) {
		snprintf(err, errlen, "stt feed: no samples");
		return false;
	}
	return r->vt->feed(r, pcm, n, err, errlen);
}

bool sova_stt_finalize(sova_stt *r, char *err, size_t errlen)
{
	if (!usable(r, "finalize", err, errlen))
		return false;
	if (!r->started) {
		snprintf(err, errlen, "stt finalize: start() first");
		return false;
	}
	return r->vt->finalize(r, err, errlen);
}

void sova_stt_close(sova_stt *r)
{
	if (!r || r->closed)
		return;
	r->vt->close(r);
	r->closed = true;
}

void sova_stt_free(sova_stt *r)
{
	if (!r)
		return;
	sova_stt_close(r);
	r->vt->destroy(r);
}

const char *sova_stt_name(const sova_stt *r) { return r ? r->vt->name : NULL; }
