/* The `lock` table of sova.core: a process's critical sections, for read-modify-write sequences
 * the database does not make atomic. FerretDB 1.24 over PostgreSQL computes an update in Go from
 * a read and writes the whole document back, so two concurrent $inc of one counter can lose one
 * (docs/architecture.md, "The embedded database"). Trusted code only; never handed to flows. */
#include <pthread.h>
#include <stdint.h>

#include "bind/sova_bind.h"

/* Keys share STRIPES mutexes by hash: two keys may wait on each other, never deadlock, as long as
 * no section takes a second key (a section may take its own again: the mutexes are recursive). */
#define STRIPES 64

static pthread_mutex_t stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;
static bool stripes_ok;

static void stripes_init(void)
{
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0)
		return;
	bool ok = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) == 0;
	for (int i = 0; ok && i < STRIPES; i++)
		ok = pthread_mutex_init(&stripes[i], &a) == 0;
	pthread_mutexattr_destroy(&a);
	stripes_ok = ok;
}

/* FNV-1a */
static uint32_t hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* lock.held(key, fn, ...) -> fn(...)'s results, fn run holding key's lock in this process; the
 * lock is let go however fn ends, and fn's error raised again */
static int l_held(lua_State *L)
{
	size_t n;
	const char *key = luaL_checklstring(L, 1, &n);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (pthread_once(&stripes_once, stripes_init) != 0 || !stripes_ok)
		return luaL_error(L, "lock.held: the locks could not be set up");
	pthread_mutex_t *m = &stripes[hash(key, n) % STRIPES];
	if (pthread_mutex_lock(m) != 0)
		return luaL_error(L, "lock.held: cannot take the lock");
	int status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
	pthread_mutex_unlock(m);
	if (status != 0)
		return lua_error(L);
	return lua_gettop(L) - 1; /* fn's results, above key */
}

int sova_open_lock(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"held", l_held},
		{NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}
