/* sova.testkit: processes and loopback ports for the specs and benchmarks. Built only as the
 * Lua module <build>/lua/sova/testkit.so; the production binary does not contain it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

static int push_errno(lua_State *L, const char *what)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", what, strerror(errno));
	return 2;
}

/* testkit.free_port() -> a TCP port on 127.0.0.1 that was free a moment ago */
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

/* testkit.spawn(argv, {env = {K = V}, stdout = path, stderr = path}) -> pid | nil, err
 * The child gets its own process group, so testkit.kill(-pid) stops it and its children. */
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

/* testkit.kill(pid[, signal]) -> true | nil, err */
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

/* testkit.wait(pid[, nohang]) -> exit status | false (still running) | nil, err */
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

int luaopen_sova_testkit(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{"free_port", l_free_port}, {"spawn", l_spawn},   {"kill", l_kill},
		{"wait", l_wait},           {"getpid", l_getpid}, {NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}
