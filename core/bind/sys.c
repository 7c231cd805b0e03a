/* The `sys` table of sova.core: clocks and files with private modes.
 * Trusted code only (scripts, the API, the bot); never handed to tenant flows. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bind/sova_bind.h"

static int push_errno(lua_State *L, const char *what)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", what, strerror(errno));
	return 2;
}

/* sys.time() -> wall clock seconds (fractional) */
static int l_time(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
	return 1;
}

/* sys.monotonic() -> seconds from an arbitrary start, never going back */
static int l_monotonic(lua_State *L)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
	return 1;
}

/* sys.thread_cpu() -> CPU seconds the calling thread has run (a syscall, not the vDSO: for
 * figures taken a few times per call, not per event) */
static int l_thread_cpu(lua_State *L)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return push_errno(L, "thread CPU clock");
	lua_pushnumber(L, (lua_Number)ts.tv_sec + ts.tv_nsec / 1e9);
	return 1;
}

/* sys.sleep(seconds) */
/* set by SIGTERM/SIGINT once sys.catch_stop() ran: a Lua main loop (sova campaigns) ends its pass */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* sys.catch_stop() -> true | nil, err: SIGTERM and SIGINT no longer kill the process; they set
 * what sys.stop_requested() answers, and cut a sys.sleep short */
static int l_catch_stop(lua_State *L)
{
	struct sigaction sa = {.sa_handler = on_stop};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return push_errno(L, "sigaction");
	lua_pushboolean(L, 1);
	return 1;
}

static int l_stop_requested(lua_State *L)
{
	lua_pushboolean(L, stop_requested != 0);
	return 1;
}

static int l_sleep(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);
	luaL_argcheck(L, s >= 0 && s <= 3600, 1, "0..3600 seconds");
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested)
		;
	return 0;
}

/* sys.write_private(path, data) -> true | nil, err: creates a new file with mode 0600 (fails if it exists) */
static int l_write_private(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	size_t len;
	const char *data = luaL_checklstring(L, 2, &len);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return push_errno(L, path);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			close(fd);
			unlink(path);
			errno = saved;
			return push_errno(L, path);
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return push_errno(L, path);
	lua_pushboolean(L, 1);
	return 1;
}

/* sys.file_mode(path) -> permission bits | nil, err */
static int l_file_mode(lua_State *L)
{
	struct stat st;
	if (stat(luaL_checkstring(L, 1), &st) != 0)
		return push_errno(L, "stat");
	lua_pushinteger(L, st.st_mode & 07777);
	return 1;
}

/* sys.mkdir(path) -> true | nil, err (an existing directory is fine) */
static int l_mkdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return push_errno(L, path);
	lua_pushboolean(L, 1);
	return 1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sys.list_dir(path) -> sorted array of entry names (without "." and "..") | nil, err */
static int l_list_dir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *d = opendir(path);
	if (!d)
		return push_errno(L, path);
	/* names collected on the Lua stack's table first, then sorted through a C array */
	lua_newtable(L);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		lua_pushstring(L, e->d_name);
		lua_rawseti(L, -2, ++n);
	}
	closedir(d);
	const char **names = lua_newuserdata(L, (size_t)(n > 0 ? n : 1) * sizeof *names);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, -2, i + 1);
		names[i] = lua_tostring(L, -1);
		lua_pop(L, 1); /* still referenced by the table */
	}
	qsort(names, (size_t)n, sizeof *names, by_name);
	lua_newtable(L);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}

int sova_open_sys(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"time", l_time},       {"monotonic", l_monotonic}, {"thread_cpu", l_thread_cpu}, {"sleep", l_sleep},
		{"write_private", l_write_private}, {"file_mode", l_file_mode}, {"mkdir", l_mkdir},
		{"list_dir", l_list_dir}, {"catch_stop", l_catch_stop}, {"stop_requested", l_stop_requested},
		{NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}
