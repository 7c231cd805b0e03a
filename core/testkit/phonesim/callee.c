/* The scripted callee of one call (callee.h). */
#include "callee.h"

#include <string.h>

#include "call.h"
#include "events.h"
#include "stream.h"

#define SILENCE 0xFF /* μ-law zero */

/* What the end of a clip means. */
enum { TAG_NONE = 0, TAG_GREETING, TAG_LINE, TAG_PROMPT, TAG_INVALID, TAG_MESSAGE, TAG_VM_GREETING, TAG_BEEP, TAG_BYE,
       TAG_HOLD_SAY };
/* a hold's announcement ("please hold") and its music are a second apart, as on real lines */
#define HOLD_MUSIC_GAP_US (1000 * 1000)

static const sc_node *current(const ps_call *c)
{
	return c->sc && c->callee.node >= 0 ? &c->sc->nodes[c->callee.node] : NULL;
}

static const char *type_name(sc_node_type t)
{
	switch (t) {
	case NODE_MENU: return "menu";
	case NODE_COLLECT: return "collect";
	case NODE_HOLD: return "hold";
	case NODE_HUMAN: return "human";
	case NODE_VOICEMAIL: return "voicemail";
	case NODE_HANGUP: return "hangup";
	}
	return "?";
}

static void say(ps_call *c, const ps_clip *clip, int tag)
{
	c->callee.clip = clip;
	c->callee.clip_pos = 0;
	c->callee.clip_tag = tag;
}

static void hang_up_soon(ps_call *c, int64_t now_us, const char *why)
{
	ps_ev e;
	ps_ev_begin(&e, c->sid, "callee_hangs_up");
	ps_ev_str(&e, "why", why);
	ps_ev_end(&e);
	c->callee.hangup_at_us = now_us;
}

static void enter(ps_call *c, int index, bool after_key, int64_t now_us)
{
	ps_callee *k = &c->callee;
	if (index == SC_NONE) {
		hang_up_soon(c, now_us, "the scenario ends here");
		return;
	}
	const sc_node *n = &c->sc->nodes[index];
	int64_t hangup_at = k->hangup_at_us;
	uint64_t recorded = k->recorded, before_beep = k->before_beep;
	memset(k, 0, sizeof *k);
	k->begun = true;
	k->node = index;
	k->hangup_at_us = hangup_at;
	k->recorded = recorded;
	k->before_beep = before_beep;
	ps_ev e;
	ps_ev_begin(&e, c->sid, "callee_node");
	ps_ev_str(&e, "node", n->name);
	ps_ev_str(&e, "type", type_name(n->type));
	ps_ev_end(&e);
	switch (n->type) {
	case NODE_MENU:
	case NODE_COLLECT:
		/* a real menu pauses after a key before its next prompt: the bot's stream reconnects then */
		k->prompt_at_us = now_us + (after_key ? (int64_t)n->prompt_delay_ms * 1000 : 0) + 1;
		break;
	case NODE_HOLD:
		if (n->say) {
			say(c, n->say, TAG_HOLD_SAY); /* the music waits for it */
		} else {
			k->music = true;
		}
		k->music_pos = (size_t)(c->sid[2] & 0x0F) * 4000 % ps_clip_music()->len; /* calls apart, not in unison */
		k->hold_end_us = now_us + (int64_t)n->hold_ms * 1000;
		k->next_message_us = n->message ? now_us + (int64_t)n->message_every_ms * 1000 : 0;
		break;
	case NODE_HUMAN:
		if (n->say)
			say(c, n->say, TAG_GREETING);
		break;
	case NODE_VOICEMAIL:
		say(c, n->say, TAG_VM_GREETING);
		break;
	case NODE_HANGUP:
		if (n->say)
			say(c, n->say, TAG_BYE);
		else
			hang_up_soon(c, now_us, "a hangup node");
		break;
	}
}

static void clip_done(ps_call *c, int tag, int64_t now_us)
{
	ps_callee *k = &c->callee;
	const sc_node *n = current(c);
	switch (tag) {
	case TAG_PROMPT:
		k->no_input_at_us = now_us + (int64_t)n->timeout_ms * 1000;
		break;
	case TAG_INVALID:
		k->prompt_at_us = now_us + 1;
		break;
	case TAG_VM_GREETING:
		say(c, n->beep, TAG_BEEP);
		break;
	case TAG_BEEP: {
		k->recording = true;
		ps_ev e;
		ps_ev_begin(&e, c->sid, "beep");
		ps_ev_int(&e, "heard_before_ms", (long long)(k->before_beep / PS_BYTES_PER_MS));
		ps_ev_end(&e);
		ps_call_amd(c, c->sc->answered_by);
		break;
	}
	case TAG_BYE:
		hang_up_soon(c, now_us, "said goodbye");
		break;
	case TAG_HOLD_SAY:
		k->music_at_us = now_us + HOLD_MUSIC_GAP_US;
		break;
	case TAG_LINE:
		if (n->lines[k->line - 1].barge_in_ms < 0) /* a line said over the bot awaits no reply */
			k->line_end_us = now_us;
		break;
	default:
		break;
	}
}

/* ---- Human turns ---- */

static void say_line(ps_call *c, int64_t now_us)
{
	ps_callee *k = &c->callee;
	const sc_node *n = current(c);
	const sc_line *l = &n->lines[k->line++];
	ps_ev e;
	ps_ev_begin(&e, c->sid, "callee_line");
	ps_ev_int(&e, "line", k->line);
	if (l->garbage)
		ps_ev_int(&e, "garbage", l->garbage);
	else
		ps_ev_str(&e, l->text ? "text" : "dtmf", l->text ? l->text : l->dtmf);
	ps_ev_end(&e);
	if (l->garbage) {
		if (c->stream)
			ps_stream_garbage(c->stream, l->garbage);
	} else if (l->dtmf) {
		for (const char *d = l->dtmf; *d && c->stream; d++)
			ps_stream_dtmf(c->stream, *d);
	} else {
		say(c, l->clip, TAG_LINE);
	}
	if (n->hangup_in_line == k->line) {
		int64_t into_ms = n->hangup_at_ms >= 0 ? n->hangup_at_ms : l->clip ? (int64_t)(l->clip->len / PS_BYTES_PER_MS / 2) : 0;
		k->hangup_at_us = now_us + into_ms * 1000 + 1;
	}
}

static void bot_turn(ps_call *c, int64_t now_us, bool barged_in)
{
	ps_callee *k = &c->callee;
	const sc_node *n = current(c);
	ps_ev e;
	ps_ev_begin(&e, c->sid, "bot_turn");
	ps_ev_str(&e, "node", n->name);
	ps_ev_int(&e, "heard_ms", (long long)(k->turn_heard / PS_BYTES_PER_MS));
	ps_ev_bool(&e, "barged_in", barged_in);
	ps_ev_end(&e);
	k->turn_heard = 0;
	if (k->line < n->num_lines)
		say_line(c, now_us);
	else if (n->hangup_at_end)
		hang_up_soon(c, now_us, "no more lines");
}

/* ---- Entry points ---- */

void ps_callee_init(ps_call *c)
{
	memset(&c->callee, 0, sizeof c->callee);
	c->callee.node = SC_NONE;
}

void ps_callee_begin(ps_call *c, int64_t now_us)
{
	if (c->callee.begun || c->callee.over || !c->sc || !c->sc->num_nodes)
		return;
	enter(c, c->sc->start, false, now_us);
}

void ps_callee_frame(ps_call *c, uint8_t out[PS_FRAME_BYTES], int64_t now_us)
{
	ps_callee *k = &c->callee;
	size_t at = 0;
	if (k->begun && !k->over && k->clip) {
		size_t n = k->clip->len - k->clip_pos;
		if (n > PS_FRAME_BYTES)
			n = PS_FRAME_BYTES;
		memcpy(out, k->clip->audio + k->clip_pos, n);
		k->clip_pos += n;
		at = n;
		if (k->clip_pos >= k->clip->len) {
			int tag = k->clip_tag;
			k->clip = NULL;
			clip_done(c, tag, now_us);
		}
	}
	if (at < PS_FRAME_BYTES && k->begun && !k->over && k->music) {
		const ps_clip *m = ps_clip_music();
		while (at < PS_FRAME_BYTES) {
			size_t n = m->len - k->music_pos;
			if (n > PS_FRAME_BYTES - at)
				n = PS_FRAME_BYTES - at;
			memcpy(out + at, m->audio + k->music_pos, n);
			at += n;
			k->music_pos = (k->music_pos + n) % m->len;
		}
	}
	memset(out + at, SILENCE, PS_FRAME_BYTES - at);
}

void ps_callee_tick(ps_call *c, int64_t now_us)
{
	ps_callee *k = &c->callee;
	if (k->over)
		return;
	if (k->hangup_at_us && now_us >= k->hangup_at_us) {
		ps_call_hangup(c, "callee");
		return;
	}
	const sc_node *n = current(c);
	if (!n)
		return;
	ps_ev e;
	switch (n->type) {
	case NODE_MENU:
	case NODE_COLLECT:
		if (k->no_input_at_us && now_us >= k->no_input_at_us) {
			k->no_input_at_us = 0;
			k->prompt_at_us = now_us;
		}
		if (k->prompt_at_us && now_us >= k->prompt_at_us) {
			k->prompt_at_us = 0;
			if (k->prompts++ > n->repeats) {
				ps_ev_begin(&e, c->sid, "menu_timeout");
				ps_ev_str(&e, "node", n->name);
				ps_ev_end(&e);
				hang_up_soon(c, now_us, "no key pressed");
			} else {
				say(c, n->say, TAG_PROMPT);
			}
		}
		break;
	case NODE_HOLD:
		if (k->music_at_us && now_us >= k->music_at_us) {
			k->music_at_us = 0;
			k->music = true;
		}
		if (now_us >= k->hold_end_us) {
			ps_ev_begin(&e, c->sid, "hold_end");
			ps_ev_str(&e, "node", n->name);
			ps_ev_int(&e, "held_ms", n->hold_ms);
			ps_ev_end(&e);
			enter(c, n->next, false, now_us);
		} else if (k->next_message_us && now_us >= k->next_message_us && !k->clip) {
			say(c, n->message, TAG_MESSAGE);
			k->next_message_us += (int64_t)n->message_every_ms * 1000;
		}
		break;
	case NODE_HUMAN:
		if (!k->clip && k->turn_heard && !ps_stream_buffered(c->stream) &&
		    now_us - k->last_heard_us >= (int64_t)n->reply_gap_ms * 1000)
			bot_turn(c, now_us, false);
		break;
	default:
		break;
	}
}

void ps_callee_heard(ps_call *c, size_t bytes, int64_t now_us)
{
	ps_callee *k = &c->callee;
	const sc_node *n = current(c);
	if (k->over || !n)
		return;
	k->turn_heard += bytes;
	k->last_heard_us = now_us;
	if (n->type == NODE_VOICEMAIL) {
		if (k->recording)
			k->recorded += bytes;
		else
			k->before_beep += bytes;
		if (k->recording && !k->hangup_at_us && k->recorded / PS_BYTES_PER_MS >= (uint64_t)n->max_message_ms)
			hang_up_soon(c, now_us, "the voicemail is full");
	} else if (n->type == NODE_HUMAN && !k->clip && k->line < n->num_lines && n->lines[k->line].barge_in_ms >= 0 &&
		   k->turn_heard / PS_BYTES_PER_MS >= (uint64_t)n->lines[k->line].barge_in_ms) {
		bot_turn(c, now_us, true);
	}
}

void ps_callee_bot_audio(ps_call *c, int64_t now_us)
{
	ps_callee *k = &c->callee;
	if (!k->line_end_us || k->over)
		return;
	/* from the callee's last audio to the bot's first: the platform's whole turn (endpointing,
	 * recognition, the model, synthesis) as a caller waits it out */
	ps_ev e;
	ps_ev_begin(&e, c->sid, "bot_reply");
	ps_ev_int(&e, "line", k->line);
	ps_ev_int(&e, "latency_ms", (now_us - k->line_end_us) / 1000);
	ps_ev_end(&e);
	k->line_end_us = 0;
}

void ps_callee_cleared(ps_call *c)
{
	c->callee.turn_heard = 0; /* the cut turn ends here: the bot's next audio is a new turn */
}

void ps_callee_key(ps_call *c, char key, int64_t now_us)
{
	ps_callee *k = &c->callee;
	const sc_node *n = current(c);
	bool takes = n && !k->over && (n->type == NODE_MENU || n->type == NODE_COLLECT);
	char d[2] = {key, 0};
	ps_ev e;
	ps_ev_begin(&e, c->sid, "key");
	ps_ev_str(&e, "key", d);
	ps_ev_str(&e, "node", n ? n->name : NULL);
	ps_ev_bool(&e, "taken", takes);
	ps_ev_end(&e);
	if (!takes)
		return;
	/* a key ends the prompt at once, as menus let callers type ahead */
	k->clip = NULL;
	k->prompt_at_us = 0;
	if (n->type == NODE_MENU) {
		k->no_input_at_us = 0;
		for (int i = 0; i < n->num_keys; i++)
			if (n->key_digit[i] == key) {
				enter(c, n->key_next[i], true, now_us);
				return;
			}
		say(c, n->invalid, TAG_INVALID);
		return;
	}
	if (key != n->until && k->num_collected < (int)sizeof k->collected - 1)
		k->collected[k->num_collected++] = key;
	if (key == n->until || k->num_collected >= n->max_digits) {
		ps_ev_begin(&e, c->sid, "collected");
		ps_ev_str(&e, "node", n->name);
		ps_ev_str(&e, "digits", k->collected);
		ps_ev_end(&e);
		enter(c, n->next, true, now_us);
		return;
	}
	k->no_input_at_us = now_us + (int64_t)n->timeout_ms * 1000; /* the next key, or the prompt again */
}

void ps_callee_end(ps_call *c)
{
	ps_callee *k = &c->callee;
	const sc_node *n = current(c);
	if (k->over)
		return;
	k->over = true;
	if (!n)
		return;
	ps_ev e;
	if (n->type == NODE_HUMAN && k->turn_heard) {
		ps_ev_begin(&e, c->sid, "bot_turn");
		ps_ev_str(&e, "node", n->name);
		ps_ev_int(&e, "heard_ms", (long long)(k->turn_heard / PS_BYTES_PER_MS));
		ps_ev_bool(&e, "at_hangup", true);
		ps_ev_end(&e);
	}
	if (n->type == NODE_VOICEMAIL) {
		ps_ev_begin(&e, c->sid, "voicemail");
		ps_ev_bool(&e, "beeped", k->recording);
		ps_ev_int(&e, "message_ms", (long long)(k->recorded / PS_BYTES_PER_MS));
		ps_ev_int(&e, "before_beep_ms", (long long)(k->before_beep / PS_BYTES_PER_MS));
		ps_ev_end(&e);
	}
}
