/* Spill files: a call recording's audio on its way to the database, sealed on disk under a key
 * that exists only in this process's memory, and the registry that hands that key from the media
 * thread (core/bot/media/recorder.h) to the writer thread (core/db/writer.h).
 *
 * Format: "SvRecSp1" (8 bytes), a crypto_secretstream_xchacha20poly1305 header (24), then one
 * stream message per SOVA_SPILL_CHUNK bytes of plaintext (+17 bytes of tag and MAC each); the last
 * message, tagged FINAL, may be shorter (even empty). The key is random per spill
 * (crypto_secretstream_xchacha20poly1305_keygen) and never written anywhere: not in the file,
 * not in the writer's spool, not in a log, not through Lua. A process that dies leaves a file
 * nobody can read — that recording is lost, deliberately: keeping it readable would mean putting
 * its key on the same disk, i.e. keeping the PHI readable on disk, which is what this is for.
 * A truncated or reordered file fails authentication (the stream's order and FINAL tag).
 *
 * File names: <dir>/rec-<32 hex>.spill (mode 0600, O_EXCL, O_NOFOLLOW); the hex is the spill's id.
 *
 * Registry: one per process, thread-safe. The media thread registers a finished spill (the key is
 * copied in, the caller wipes its copy); Lua carries only the id (a name, not a secret) into a
 * writer operation; the writer looks the key up by id, stores the recording, then discards the
 * spill (file deleted, key wiped). Keys in the registry live in ordinary heap memory, wiped on
 * discard: swap should be off or encrypted on a bot host. */
#ifndef SOVA_CRYPTO_SPILL_H
#define SOVA_CRYPTO_SPILL_H
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOVA_SPILL_KEYBYTES crypto_secretstream_xchacha20poly1305_KEYBYTES
#define SOVA_SPILL_CHUNK 8192u /* plaintext bytes per sealed message (2048 stereo PCM16 frames) */
#define SOVA_SPILL_ID_LEN 32   /* hex digits of 16 random bytes */
#define SOVA_SPILL_PATH_MAX 512
#define SOVA_SPILL_REGISTRY_MAX 4096 /* spills waiting for the writer, per process */
#define SOVA_WAV_HEADER_LEN 44

/* A finished spill: everything needed to read it back. Holds a key: wipe with
 * sova_recording_spill_wipe when done with a copy. */
typedef struct sova_recording_spill {
	char id[SOVA_SPILL_ID_LEN + 1];
	char path[SOVA_SPILL_PATH_MAX];
	unsigned char key[SOVA_SPILL_KEYBYTES];
	uint64_t pcm_bytes;  /* plaintext: interleaved stereo PCM16 little-endian (the WAV's data) */
	int sample_rate;     /* frames per second */
	double duration_seconds; /* pcm_bytes / 4 / sample_rate */
} sova_recording_spill;

void sova_recording_spill_wipe(sova_recording_spill *s);

/* ---- writing (the recorder) ---- */

typedef struct sova_spill_writer sova_spill_writer;

/* Creates a new spill file under dir with a fresh random key. NULL with err. */
sova_spill_writer *sova_spill_create(const char *dir, char *err, size_t errlen);
/* Seals and appends exactly SOVA_SPILL_CHUNK bytes. false with err (disk full, I/O). */
bool sova_spill_append(sova_spill_writer *w, const uint8_t *plain, char *err, size_t errlen);
/* Seals the last n (<= SOVA_SPILL_CHUNK) bytes as FINAL, closes the file and fills out (key
 * included) for sample_rate; the writer then only wipes itself (the file stays for out's owner). */
bool sova_spill_close(sova_spill_writer *w, const uint8_t *last, size_t n, int sample_rate,
		      sova_recording_spill *out, char *err, size_t errlen);
/* Wipes the key; deletes the file unless sova_spill_close handed it over. */
void sova_spill_writer_free(sova_spill_writer *w);
/* Bytes this writer allocated (for the recorder's memory accounting). */
size_t sova_spill_writer_memory(void);

/* ---- reading (the writer thread) ---- */

typedef struct sova_spill_reader sova_spill_reader;

sova_spill_reader *sova_spill_open(const sova_recording_spill *s, char *err, size_t errlen);
/* Fills out with exactly n plaintext bytes (the next ones). false with err when the file is
 * missing, short, damaged (authentication), or ends before n bytes; out is zeroed then. The
 * end is checked too: reading the last byte verifies the FINAL tag and the total length. */
bool sova_spill_read(sova_spill_reader *r, uint8_t *out, size_t n, char *err, size_t errlen);
void sova_spill_reader_free(sova_spill_reader *r); /* wipes its buffers and key */

/* The 44-byte header of a two-channel PCM16 WAV whose data chunk is data_bytes long (< 4 GiB - 36). */
void sova_spill_wav_header(uint8_t out[SOVA_WAV_HEADER_LEN], int sample_rate, uint32_t data_bytes);

/* ---- the registry ---- */

/* Registers s (copied, key included; the caller still wipes its own copy). false with err when
 * the registry is full or s is malformed. */
bool sova_spill_register(const sova_recording_spill *s, char *err, size_t errlen);
/* Copies the registered spill id into *out (the caller wipes it); false when not registered (a
 * spill from before a restart: its key is gone). */
bool sova_spill_lookup(const char *id, sova_recording_spill *out);
/* Forgets id (key wiped) and deletes its file. false when it was not registered. */
bool sova_spill_discard(const char *id);
/* Deletes rec-*.spill files under dir that no registered spill names (left by a process that
 * died: unreadable). Returns how many were deleted. Call with the directory's owner lock held. */
size_t sova_spill_sweep(const char *dir);
/* Whether path names a spill file (…/rec-<32 hex>.spill): a spool record's path is checked
 * before it is deleted. */
bool sova_spill_path_ok(const char *path);
bool sova_spill_id_ok(const char *id);
#endif
