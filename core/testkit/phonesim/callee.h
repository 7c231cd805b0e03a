/* The scripted callee of one call (scenario.h says what it does): what it says into the call,
 * 20 ms at a time on the call's own clock (so audio goes on while no stream is connected, as on a
 * real line), what it hears of the bot (the bot's audio as it plays out of the stream's buffer),
 * and the keys pressed to it.
 *
 * A bot's turn, as the callee hears it: bot audio played, then the stream's buffer empty and
 * reply_gap_ms without more. Then a human says its next line; a line with barge_in_ms is said that
 * far into the bot's turn instead (the bot should clear). Menus wait for keys (any key ends the
 * prompt at once), repeat after timeout_ms, and go where the key leads; a collect node takes keys
 * until its end key. Hold plays music, with the message every message_every_s, for hold_seconds,
 * then its next node. A voicemail says its greeting, beeps, gives the AMD verdict, then records. */
#ifndef SOVA_PHONESIM_CALLEE_H
#define SOVA_PHONESIM_CALLEE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

struct ps_call;

typedef struct ps_callee {
	int node;                 /* index in the scenario's nodes; SC_NONE before the start */
	bool begun, over;
	/* what it says */
	const ps_clip *clip;      /* the clip playing (NULL: silence or music) */
	size_t clip_pos;
	int clip_tag;             /* what the clip's end means (callee.c) */
	bool music;               /* the background is hold music (else silence) */
	size_t music_pos;
	/* menu and collect */
	int64_t prompt_at_us;     /* the prompt is due then (0: not waiting for it) */
	int64_t no_input_at_us;   /* no key by then: the prompt again (0: not waiting) */
	int prompts;
	char collected[65];
	int num_collected;
	/* hold */
	int64_t hold_end_us, next_message_us;
	int64_t music_at_us;      /* hold: the music starts then (after the node's announcement and a pause) */
	/* human */
	int line;                 /* the next line */
	uint64_t turn_heard;      /* bot audio heard in the bot's current turn (bytes) */
	int64_t last_heard_us;
	int64_t line_end_us;      /* a line's last audio went: the bot's reply is awaited (0: not) */
	int64_t hangup_at_us;     /* the callee hangs up then (0: not): mid-sentence, after its last
	                             line, at the end of a menu; done by the tick, never inside the
	                             stream's callbacks */
	/* voicemail */
	bool recording;
	uint64_t recorded, before_beep;
} ps_callee;

void ps_callee_init(struct ps_call *c);
/* The first stream started: the callee begins (a human's greeting, a menu's prompt). */
void ps_callee_begin(struct ps_call *c, int64_t now_us);
/* The callee's next 20 ms of audio into out. */
void ps_callee_frame(struct ps_call *c, uint8_t out[160], int64_t now_us);
/* Timers: turns ending, prompts repeating, hold ending. */
void ps_callee_tick(struct ps_call *c, int64_t now_us);
/* bytes of the bot's audio played to the callee just now. */
void ps_callee_heard(struct ps_call *c, size_t bytes, int64_t now_us);
/* Bot audio arrived (not yet played): the first after a line ends is the bot's reply. */
void ps_callee_bot_audio(struct ps_call *c, int64_t now_us);
/* The bot cleared its audio: what it was saying was cut. */
void ps_callee_cleared(struct ps_call *c);
/* A key the bot pressed (<Play digits>), as its tone ends. */
void ps_callee_key(struct ps_call *c, char key, int64_t now_us);
/* The call ended: what the callee has to report (the last turn, a voicemail's length). */
void ps_callee_end(struct ps_call *c);
#endif
