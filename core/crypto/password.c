#include "crypto/password.h"

#include <pthread.h>
#include <semaphore.h>
#include <string.h>

/* t = 2, m = 64 MiB: above OWASP's argon2id minimum (m = 19 MiB, t = 2). */
#define OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE
/* Each hash takes ~70 ms and 64 MiB: at most this many at once, so a login storm cannot exhaust memory. */
#define MAX_CONCURRENT 4

static sem_t slots;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool ready;

static void init_once(void)
{
	ready = sodium_init() >= 0 && sem_init(&slots, 0, MAX_CONCURRENT) == 0;
}

bool sova_crypto_init(void)
{
	pthread_once(&once, init_once);
	return ready;
}

static void acquire(void)
{
	while (sem_wait(&slots) != 0)
		; /* EINTR: retry */
}

bool sova_password_hash(const char *pw, size_t len, char out[SOVA_PASSWORD_HASH_BYTES])
{
	if (!sova_crypto_init() || len > SOVA_PASSWORD_MAX)
		return false;
	acquire();
	int rc = crypto_pwhash_str(out, pw, len, OPSLIMIT, MEMLIMIT);
	sem_post(&slots);
	return rc == 0;
}

bool sova_password_verify(const char *hash, const char *pw, size_t len)
{
	if (!sova_crypto_init() || len > SOVA_PASSWORD_MAX)
		return false;
	if (strnlen(hash, SOVA_PASSWORD_HASH_BYTES) >= SOVA_PASSWORD_HASH_BYTES)
		return false;
	acquire();
	int rc = crypto_pwhash_str_verify(hash, pw, len);
	sem_post(&slots);
	return rc == 0;
}
