/* The checks every synthesizer shares (tts.h), so an engine sees only valid calls. */
#include "bot/speech/tts.h"

#include <stdio.h>
#include <string.h>

void sova_tts_init_base(sova_tts *s, const sova_tts_vtable *vt, const sova_tts_config *cfg, sova_tts_callback cb, void *user)
{
	memset(s, 0, sizeof *s);
	s->vt = vt;
	s->config = *cfg;
	if (!s->config.encoding)
		s->config.encoding = SOVA_AUDIO_PCM16;
	if (s->config.frame_ms <= 0)
		s->config.frame_ms = 20;
	s->callback = cb;
	s->user = user;
	atomic_init(&s->cancelled, false);
}

bool sova_tts_say(sova_tts *s, const char *text, size_t len, bool final, char *err, size_t errlen)
{
	if (!s) {
		snprintf(err, errlen, "tts say: no synthesizer");
		return false;
	}
	if (s->closed) {
		snprintf(err, errlen, "tts say: the synthesizer is closed");
		return false;
	}
	if (!text) {
		snprintf(err, errlen, "tts say: no text");
		return false;
	}
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len && !(final && s->in_turn)) {
		snprintf(err, errlen, "tts say: empty text");
		return false;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "tts say: text contains a NUL byte");
		return false;
	}
	if (!s->in_turn || atomic_load(&s->cancelled)) { /* a new turn: what cancel() stopped stays stopped */
		s->turn++;
		s->chunk = 0;
		atomic_store(&s->cancelled, false);
	}
	s->in_turn = !final;
	bool ok = s->vt->say(s, text, len, final, err, errlen);
	s->chunk++;
	if (!ok)
		s->in_turn = false;
	return ok;
}

void sova_tts_cancel(sova_tts *s)
{
	if (!s || s->closed)
		return;
	atomic_store(&s->cancelled, true);
	s->vt->cancel(s);
}

void sova_tts_close(sova_tts *s)
{
	if (!s || s->closed)
		return;
	atomic_store(&s->cancelled, true);
	s->vt->close(s);
	s->closed = true;
}

void sova_tts_free(sova_tts *s)
{
	if (!s)
		return;
	sova_tts_close(s);
	s->vt->destroy(s);
}

const char *sova_tts_name(const sova_tts *s) { return s ? s->vt->name : NULL; }

int sova_tts_sample_rate(const sova_tts *s) { return s ? s->sample_rate : 0; }

bool sova_tts_emit(sova_tts *s, sova_tts_event *ev)
{
	if (atomic_load(&s->cancelled))
		return false;
	ev->turn = s->turn;
	s->callback(s->user, ev);
	return !atomic_load(&s->cancelled);
}

size_t sova_tts_clause_end(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (strchr(",;:.!?", s[i]) && (s[i + 1] == ' ' || s[i + 1] == '\n' || s[i + 1] == '\t'))
			return i + 1;
	return 0;
}

bool sova_tts_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}
