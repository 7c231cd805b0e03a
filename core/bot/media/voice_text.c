/* The voice's text rules: see voice_text.h. */
#include "bot/media/voice_text.h"

#include <ctype.h>
#include <string.h>

const char *const SOVA_VOICE_BACKCHANNELS[] = {
	"mm-hm", "mhm", "mm", "hmm", "uh-huh", "uh huh", "huh", "yeah", "yep", "yes", "yup", "okay", "ok", "right",
	"alright", "all right", "sure", "got it", "i see", "i got it", "cool", "great", "fine", "go on", "go ahead",
};
const size_t SOVA_VOICE_NUM_BACKCHANNELS = sizeof SOVA_VOICE_BACKCHANNELS / sizeof *SOVA_VOICE_BACKCHANNELS;

#define MAX_WORDS 64
#define MAX_WORD 32

static bool word_char(char c) { return isalnum((unsigned char)c) || c == '\''; }

/* The next word at or after *pos: its start and length; false at the end. */
static bool next_word(const char *s, size_t len, size_t *pos, size_t *start, size_t *wlen)
{
	size_t i = *pos;
	while (i < len && !word_char(s[i]))
		i++;
	if (i == len)
		return false;
	size_t j = i;
	while (j < len && word_char(s[j]))
		j++;
	*start = i;
	*wlen = j - i;
	*pos = j;
	return true;
}

size_t sova_voice_count_words(const char *text, size_t len)
{
	size_t n = 0, pos = 0, start, wlen;
	while (next_word(text, len, &pos, &start, &wlen))
		n++;
	return n;
}

size_t sova_voice_word_prefix(const char *text, size_t len, size_t k)
{
	size_t pos = 0, start, wlen, end = 0;
	for (size_t i = 0; i < k && next_word(text, len, &pos, &start, &wlen); i++)
		end = start + wlen;
	/* keep punctuation that closes the last word ("Alpha." rather than "Alpha") */
	while (end > 0 && end < len && k > 0 && strchr(".,;:!?", text[end]))
		end++;
	return end;
}

/* Lowercased words of s into w (at most MAX_WORDS, each cut at MAX_WORD - 1); returns the count,
 * or MAX_WORDS + 1 when there are more (too long to be a backchannel). */
static size_t split(const char *s, size_t len, char w[][MAX_WORD])
{
	size_t n = 0, pos = 0, start, wlen;
	while (next_word(s, len, &pos, &start, &wlen)) {
		if (n == MAX_WORDS)
			return MAX_WORDS + 1;
		size_t k = 0;
		for (; k < wlen && k + 1 < MAX_WORD; k++)
			w[n][k] = (char)tolower((unsigned char)s[start + k]);
		w[n][k] = '\0';
		n++;
	}
	return n;
}

bool sova_voice_all_backchannels(const char *text, size_t len, const char *const *list, size_t n)
{
	char words[MAX_WORDS][MAX_WORD];
	size_t nw = split(text, len, words);
	if (nw == 0 || nw > MAX_WORDS)
		return false;
	/* Greedy from the left, the longest entry first at each position: backchannel phrases are
	 * short and do not overlap in ways that need backtracking. */
	for (size_t i = 0; i < nw;) {
		size_t best = 0;
		for (size_t e = 0; e < n; e++) {
			char ew[MAX_WORDS][MAX_WORD];
			size_t ne = split(list[e], strlen(list[e]), ew);
			if (ne == 0 || ne > MAX_WORDS || i + ne > nw || ne <= best)
				continue;
			size_t k = 0;
			while (k < ne && strcmp(ew[k], words[i + k]) == 0)
				k++;
			if (k == ne)
				best = ne;
		}
		if (best == 0)
			return false;
		i += best;
	}
	return true;
}
