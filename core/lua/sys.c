/* The `sys` table of sova.core: clocks, files with private modes, loopback ports, processes.
 * Trusted code only (scripts, the API, specs); never handed to tenant flows. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lua/sova_lua.h"

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

/* sys.sleep(seconds) */
static int l_sleep(lua_State *L)
{
	lua_Number s = luaL_checknumber(L, 1);
	luaL_argcheck(L, s >= 0 && s <= 3600, 1, "0..3600 seconds");
	struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
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

/* sys.free_port() -> a TCP port on 127.0.0.1 that was free a moment ago */
static int l_free_port(lua_State *L)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return push_errno(L, "socket");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return push_errno(L, "bind");
	}
	close(fd);
	lua_pushinteger(L, ntohs(a.sin_port));
	return 1;
}

/* sys.spawn(argv, {env = {K = V}, stdout = path, stderr = path}) -> pid | nil, err
 * The child gets its own process group, so sys.kill(-pid) stops it and its children. */
static int l_spawn(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int argc = (int)lua_objlen(L, 1);
	luaL_argcheck(L, argc > 0 && argc < 64, 1, "1..63 arguments");
	lua_settop(L, 2);
	const char *out = NULL, *errp = NULL;
	if (!lua_isnil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_getfield(L, 2, "stdout"); /* 3 */
		lua_getfield(L, 2, "stderr"); /* 4 */
		lua_getfield(L, 2, "env");    /* 5 */
		out = lua_tostring(L, 3);
		errp = lua_tostring(L, 4);
	} else {
		lua_settop(L, 5);
	}
	const char *argv[64];
	for (int i = 0; i < argc; i++) {
		lua_rawgeti(L, 1, i + 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			return luaL_error(L, "argument %d is not a string", i + 1);
		argv[i] = lua_tostring(L, -1); /* anchored in table 1 */
		lua_pop(L, 1);
	}
	argv[argc] = NULL;
	const char *envs[128];
	int ne = 0;
	if (lua_istable(L, 5)) {
		lua_pushnil(L);
		while (lua_next(L, 5)) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING || ne >= 126)
				return luaL_error(L, "env must map strings to strings (at most 126)");
			envs[ne++] = lua_tostring(L, -2);
			envs[ne++] = lua_tostring(L, -1);
			lua_pop(L, 1);
		}
	}
	pid_t pid = fork();
	if (pid < 0)
		return push_errno(L, "fork");
	if (pid == 0) {
		setpgid(0, 0);
		for (int i = 0; i < ne; i += 2)
			setenv(envs[i], envs[i + 1], 1);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd >= 0)
				dup2(fd, 1);
		}
		if (errp) {
			int fd = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd >= 0)
				dup2(fd, 2);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	lua_pushinteger(L, pid);
	return 1;
}

/* sys.kill(pid[, signal]) -> true | nil, err */
static int l_kill(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int sig = luaL_optint(L, 2, SIGTERM);
	luaL_argcheck(L, pid != 0 && pid != -1, 1, "pid or -pgid expected");
	if (kill(pid, sig) != 0)
		return push_errno(L, "kill");
	lua_pushboolean(L, 1);
	return 1;
}

/* sys.wait(pid[, nohang]) -> exit status | false (still running) | nil, err */
static int l_wait(lua_State *L)
{
	pid_t pid = (pid_t)luaL_checkinteger(L, 1);
	int flags = lua_toboolean(L, 2) ? WNOHANG : 0;
	int status;
	pid_t r;
	while ((r = waitpid(pid, &status, flags)) < 0 && errno == EINTR)
		;
	if (r < 0)
		return push_errno(L, "waitpid");
	if (r == 0) {
		lua_pushboolean(L, 0);
		return 1;
	}
	lua_pushinteger(L, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 1;
}

static int l_getpid(lua_State *L)
{
	lua_pushinteger(L, getpid());
	return 1;
}

int sova_open_sys(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"time", l_time},       {"monotonic", l_monotonic}, {"sleep", l_sleep},
		{"write_private", l_write_private}, {"file_mode", l_file_mode}, {"mkdir", l_mkdir},
		{"free_port", l_free_port}, {"spawn", l_spawn}, {"kill", l_kill}, {"wait", l_wait},
		{"getpid", l_getpid},   {NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}
