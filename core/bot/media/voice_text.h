/* The voice's text rules (voice.h): which words are backchannels, counting words, and cutting a
 * line at a word. Internal to core/bot/media/voice.c; plain C, no allocation. */
#ifndef SOVA_MEDIA_VOICE_TEXT_H
#define SOVA_MEDIA_VOICE_TEXT_H
#include <stdbool.h>
#include <stddef.h>

/* The default backchannels: the one list. */
extern const char *const SOVA_VOICE_BACKCHANNELS[];
extern const size_t SOVA_VOICE_NUM_BACKCHANNELS;

/* Words in text: runs of letters, digits and apostrophes (a hyphen separates: "mm-hm" is two). */
size_t sova_voice_count_words(const char *text, size_t len);
/* Whether text has at least one word and every word belongs to a backchannel of the list (each
 * entry a word or a phrase, matched as whole words, case-insensitively: "yeah okay", "uh-huh
 * got it"). */
bool sova_voice_all_backchannels(const char *text, size_t len, const char *const *list, size_t n);
/* Bytes of text up to the end of its k-th word (0 for k = 0; all of it when it has fewer). */
size_t sova_voice_word_prefix(const char *text, size_t len, size_t k);
#endif
