/* The `sandbox` table of sova.core: one locked-down Lua state per call for tenant flows
 * (DESIGN principle 5).
 *
 * Built from allow-lists, as Redis builds its scripting state: only base functions that cannot
 * reach outside, and read-only views of string, table and math. No io, os, ffi, debug, jit,
 * package, coroutine, load*, dofile, getfenv/setfenv, string.dump; bytecode is refused; the JIT
 * is off so the count hook fires everywhere. Each state has a byte cap (its own allocator), and
 * each callback an instruction budget, a deadline on the calling thread's CPU time (time the
 * process spends descheduled or stopped does not count against an honest flow) and a wall-clock
 * cap as a second line, enforced by a count hook; once one is exceeded the hook re-arms on every
 * instruction, so a pcall in the flow cannot swallow the kill. `require` reaches only the
 * modules under sova.sandboxed (lua/sova/sandboxed/) and the flow's own directory. Each source text
 * is compiled once per process (see "Compiled chunks"). Values cross
 * between states only by deep copy of plain data (no functions, no userdata, no metatables), so
 * nothing of another call, or of the host, is reachable. */
#include <errno.h>
#include <luajit.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bind/sova_bind.h"
#include "util/arena.h"
#include "util/clock.h"

#define SANDBOX_MT "sova.sandbox"
#define MAX_SOURCE (1024 * 1024)
#define MAX_COPY_DEPTH 32
#define MAX_COPY_ITEMS 200000
#define MAX_COPY_BYTES (4 * 1024 * 1024) /* string bytes in one crossing: a repeated string counts each time */
#define MAX_SUBJECT (8 * 1024)
#define MAX_PATTERN 128
#define MAX_QUANTIFIERS 2
#define HOOK_EVERY 1000
#define WALL_CAP_FACTOR 10 /* default wall-clock cap: this many times the CPU-time deadline */

/* The platform modules a flow may require, and the one whose functions the host calls. */
#define SANDBOXED_PREFIX "sova.sandboxed."
#define FLOW_LIBRARY SANDBOXED_PREFIX "flow"

/* Registry keys of the sandboxed state (addresses of statics). */
static char KEY_SELF, KEY_LOADED, KEY_BASE, KEY_FLOW;

typedef struct sandbox {
	lua_State *L; /* owned; NULL once closed */
	sova_arena arena; /* all of the state's memory */
	size_t used, limit;
	long long budget, spent;   /* instructions per callback */
	double cpu_deadline_ms, cpu_started;   /* the calling thread's CPU time per callback */
	double wall_deadline_ms, wall_started; /* wall clock per callback: the second line */
	const char *killed; /* non-NULL: the reason; the state runs no more code */
	char lua_dir[512], flow_dir[512];
} sandbox;


/* ---- Memory cap ---- */

/* Never fails a free or a shrink (LuaJIT requires it); refuses growth beyond the cap. The
 * blocks come from the state's own arena (core/util/arena.h): closing a state was one free()
 * per object, and glibc's bins mixed the objects of every running call. */
static void *sb_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	sandbox *sb = ud;
	if (!ptr)
		osize = 0;
	if (nsize > osize && sb->used + (nsize - osize) > sb->limit)
		return NULL;
	void *p = sova_arena_realloc(&sb->arena, ptr, osize, nsize);
	if (!p && nsize > 0)
		return NULL;
	sb->used = sb->used - osize + nsize;
	return p;
}

/* Ends the state by freeing its arena: all its memory is there, and it holds nothing else (no
 * userdata, so no finalizer to run; the JIT is off, so no machine code), so lua_close's walk
 * freeing one object at a time is not needed. */
static void close_state(sandbox *sb)
{
	sb->L = NULL;
	sova_arena_release(&sb->arena);
}

/* ---- Instruction budget and deadlines ---- */

/* CPU time of the calling thread in ms, or a negative number when it cannot be read. */
static double thread_cpu_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return -1;
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static sandbox *self_of(lua_State *L)
{
	lua_pushlightuserdata(L, &KEY_SELF);
	lua_rawget(L, LUA_REGISTRYINDEX);
	sandbox *sb = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return sb;
}

static void hook(lua_State *L, lua_Debug *ar)
{
	sandbox *sb = self_of(L);
	if (!sb->killed) {
		sb->spent += HOOK_EVERY;
		double wall = sova_monotonic_ms() - sb->wall_started;
		if (sb->spent > sb->budget)
			sb->killed = "instruction budget exceeded";
		else if (wall > sb->wall_deadline_ms)
			sb->killed = "wall-clock deadline exceeded";
		else if (wall > sb->cpu_deadline_ms) {
			/* A thread's CPU time never runs ahead of the wall clock, so the (costlier,
			 * not vDSO) CPU clock is read only once the wall clock says it could be over. */
			double cpu = thread_cpu_ms();
			if (cpu < 0)
				sb->killed = "deadline exceeded: the thread's CPU time cannot be read";
			else if (cpu - sb->cpu_started > sb->cpu_deadline_ms)
				sb->killed = "CPU-time deadline exceeded";
		}
		if (!sb->killed)
			return;
		/* From now on every instruction raises: a pcall in the flow cannot swallow it. */
		lua_sethook(L, hook, LUA_MASKCOUNT, 1);
	}
	luaL_error(L, "%s", sb->killed);
}

/* ---- String functions with bounded work (the hook cannot interrupt C) ---- */

/* Repetitions that can backtrack: *, + and - after an item. A '-' inside a [set] is a range. */
static int count_quantifiers(const char *p, size_t len)
{
	int n = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '%') {
			i++;
			continue;
		}
		if (p[i] == '[') {
			i++;
			if (i < len && p[i] == '^')
				i++;
			if (i < len && p[i] == ']')
				i++; /* a leading ] is literal */
			while (i < len && p[i] != ']') {
				if (p[i] == '%')
					i++;
				i++;
			}
			continue;
		}
		if (p[i] == '*' || p[i] == '+' || p[i] == '-')
			n++;
	}
	return n;
}

/* upvalue 1: the real string function */
static int bounded_pattern_fn(lua_State *L)
{
	size_t slen, plen;
	luaL_checklstring(L, 1, &slen);
	const char *p = luaL_checklstring(L, 2, &plen);
	if (slen > MAX_SUBJECT)
		return luaL_error(L, "string too long for pattern matching (at most %d bytes)", MAX_SUBJECT);
	if (plen > MAX_PATTERN)
		return luaL_error(L, "pattern too long (at most %d bytes)", MAX_PATTERN);
	if (count_quantifiers(p, plen) > MAX_QUANTIFIERS)
		return luaL_error(L, "pattern has more than %d repetitions (*, +, -)", MAX_QUANTIFIERS);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* ---- Read-only views and globals ---- */

static int refuse_write(lua_State *L)
{
	return luaL_error(L, "globals and libraries are read-only in a flow");
}

/* Replaces the table at the top with an empty proxy reading through to it, read-only. */
static void make_readonly(lua_State *L)
{
	lua_newtable(L);             /* [t, proxy] */
	lua_createtable(L, 0, 3);    /* [t, proxy, mt] */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, refuse_write);
	lua_setfield(L, -2, "__newindex");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);     /* [t, proxy] */
	lua_remove(L, -2);           /* [proxy] */
}

/* A fresh environment for one chunk: empty, reading through to the allow-listed base. */
static void push_env(lua_State *L)
{
	lua_pushlightuserdata(L, &KEY_BASE);
	lua_rawget(L, LUA_REGISTRYINDEX);
	make_readonly(L);
}

static void open_lib(lua_State *L, lua_CFunction open)
{
	lua_pushcfunction(L, open);
	lua_call(L, 0, 0);
}

static const char *const BASE_ALLOWED[] = {
	"assert", "error", "ipairs", "next", "pairs", "pcall", "xpcall", "select", "tonumber", "tostring",
	"type", "unpack", "rawequal", "rawget", "setmetatable", "getmetatable", NULL,
	/* no rawset: it would write through the read-only views that platform modules share */
};

static int sb_require(lua_State *L);

/* Runs in protected mode on the new state: the allow-listed base, read-only libraries. */
static int build_sandbox(lua_State *L)
{
	open_lib(L, luaopen_base);
	open_lib(L, luaopen_string);
	open_lib(L, luaopen_table);
	open_lib(L, luaopen_math);

	lua_newtable(L); /* [base] */
	for (const char *const *name = BASE_ALLOWED; *name; name++) {
		lua_getglobal(L, *name);
		lua_setfield(L, -2, *name);
	}
	lua_pushcfunction(L, sb_require);
	lua_setfield(L, -2, "require");

	/* string: without dump; pattern functions bounded */
	lua_getglobal(L, "string"); /* [base, string] */
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	static const char *const PATTERN_FNS[] = {"find", "match", "gmatch", "gsub", NULL};
	for (const char *const *fn = PATTERN_FNS; *fn; fn++) {
		lua_getfield(L, -1, *fn);
		lua_pushcclosure(L, bounded_pattern_fn, 1);
		lua_setfield(L, -2, *fn);
	}
	/* ("x"):find(...) goes through the string metatable: lock it against getmetatable("") tampering */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) { /* [base, string, "", smt] */
		lua_pushvalue(L, -3);
		lua_setfield(L, -2, "__index");
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);    /* [base, string] */
	make_readonly(L); /* [base, string_ro] */
	lua_setfield(L, -2, "string");
	static const char *const LIBS[] = {"table", "math", NULL};
	for (const char *const *lib = LIBS; *lib; lib++) {
		lua_getglobal(L, *lib);
		make_readonly(L);
		lua_setfield(L, -2, *lib);
	}
	lua_pushlightuserdata(L, &KEY_BASE);
	lua_pushvalue(L, -2);
	lua_rawset(L, LUA_REGISTRYINDEX);
	lua_pop(L, 1);

	/* Nothing is reachable through the real globals table: empty it. */
	lua_pushvalue(L, LUA_GLOBALSINDEX);
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_pushnil(L);
		lua_rawset(L, -4);
	}
	lua_pop(L, 1);
	/* luaopen_base's package/_LOADED live in the registry: drop what could load code */
	lua_pushnil(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "_LOADED");

	lua_pushlightuserdata(L, &KEY_LOADED);
	lua_newtable(L);
	lua_rawset(L, LUA_REGISTRYINDEX);
	return 0;
}

/* ---- require: the sandboxed platform modules and the flow's own directory only ---- */

/* sova.sandboxed.<name>: the trust boundary is that folder; every other platform module is
 * trusted code a flow must not reach. */
static bool sandboxed_module(const char *name)
{
	size_t n = strlen(SANDBOXED_PREFIX);
	return strncmp(name, SANDBOXED_PREFIX, n) == 0 && name[n] != '\0';
}

static bool plain_name(const char *s, bool dots)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			  *p == '_' || (dots && *p == '.' && p != s && p[1] && p[1] != '.');
		if (!ok)
			return false;
	}
	return true;
}

/* Reads a whole file (at most MAX_SOURCE) into a malloc'd buffer; caller frees. */
static char *read_source(const char *path, size_t *len, const char **why)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*why = errno == ENOENT ? "not found" : "cannot be read";
		return NULL;
	}
	/* sized by the file (one more byte shows that it grew meanwhile), not by MAX_SOURCE: a
	 * megabyte per module and call was page faults at every call's start */
	struct stat st;
	size_t want = fstat(fileno(f), &st) == 0 && st.st_size >= 0 && st.st_size <= MAX_SOURCE
			      ? (size_t)st.st_size + 1
			      : MAX_SOURCE + 1;
	char *buf = malloc(want);
	if (!buf) {
		fclose(f);
		*why = "out of memory";
		return NULL;
	}
	size_t n = fread(buf, 1, want, f);
	bool bad = ferror(f);
	if (!bad && n == want && want <= MAX_SOURCE) { /* it grew since fstat: read as before */
		char *grown = realloc(buf, MAX_SOURCE + 1);
		if (!grown) {
			free(buf);
			fclose(f);
			*why = "out of memory";
			return NULL;
		}
		buf = grown;
		n += fread(buf + n, 1, MAX_SOURCE + 1 - n, f);
		bad = ferror(f);
	}
	fclose(f);
	if (bad || n > MAX_SOURCE) {
		free(buf);
		*why = bad ? "cannot be read" : "is larger than 1 MiB";
		return NULL;
	}
	*len = n;
	return buf;
}

/* ---- Compiled chunks, kept per process ---- */

/* Parsing the platform's modules and the flow again in every call's new state was most of a
 * call's start (3 of 4 ms on bench/calls.sh). So each source text is compiled once: the bytecode
 * LuaJIT made of it is kept with a copy of the text, and a later state whose file (same path,
 * same chunk name) holds the same bytes loads that bytecode. A flow's files are read at every
 * load and compared; the platform's own modules (sova.sandboxed) are read once per process, as
 * the host's own Lua is. Bytecode is loaded only from here, never from a file (a file is still
 * compiled as text only). Entries stay until the process ends; one whose file changed is
 * replaced; past CHUNK_CACHE_BYTES new texts are compiled, not kept. */
#define CHUNK_CACHE_BYTES (32 * 1024 * 1024)

typedef struct compiled_chunk {
	struct compiled_chunk *next;
	char *path; /* owned, like chunkname, source and code */
	char *chunkname;
	char *source;
	size_t source_len;
	char *code;
	size_t code_len;
} compiled_chunk;

static pthread_mutex_t chunks_lock = PTHREAD_MUTEX_INITIALIZER; /* sandboxes start on any thread */
static compiled_chunk *chunks;
static size_t chunks_bytes;

static void free_chunk(compiled_chunk *c)
{
	free(c->path);
	free(c->chunkname);
	free(c->source);
	free(c->code);
	free(c);
}

typedef struct dump_buffer {
	char *data; /* malloc'd; owned by the dumper until moved into a cache entry */
	size_t len, cap;
	bool failed;
} dump_buffer;

static int dump_writer(lua_State *L, const void *p, size_t n, void *ud)
{
	(void)L;
	dump_buffer *b = ud;
	if (b->failed)
		return 1;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown) {
			b->failed = true;
			return 1;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* Under chunks_lock: the entry for path and chunkname, or NULL. */
static compiled_chunk **find_chunk(const char *path, const char *chunkname)
{
	for (compiled_chunk **c = &chunks; *c; c = &(*c)->next)
		if (strcmp((*c)->path, path) == 0 && strcmp((*c)->chunkname, chunkname) == 0)
			return c;
	return NULL;
}

/* Loads the cached bytecode of path onto L, when it was compiled from this exact text (src
 * NULL: from whatever text was read first): LUA_OK or a load status (the message is pushed, e.g.
 * the memory cap), or -1 when there is none (nothing pushed). */
static int load_cached(lua_State *L, const char *path, const char *chunkname, const char *src, size_t len)
{
	int rc = -1;
	pthread_mutex_lock(&chunks_lock);
	compiled_chunk **c = find_chunk(path, chunkname);
	if (c && (!src || ((*c)->source_len == len && memcmp((*c)->source, src, len) == 0)))
		rc = luaL_loadbufferx(L, (*c)->code, (*c)->code_len, chunkname, "b");
	pthread_mutex_unlock(&chunks_lock);
	return rc;
}

/* Keeps the bytecode of the function at the top of L, compiled from src (whose ownership moves
 * here: kept or freed). Failing to keep it changes nothing but the next start's speed. */
static void keep_compiled(lua_State *L, const char *path, const char *chunkname, char *src, size_t len)
{
	dump_buffer b = {0};
	compiled_chunk *entry = NULL;
	char *p = NULL, *name = NULL;
	if (lua_dump(L, dump_writer, &b) != 0 || b.failed || !(entry = malloc(sizeof *entry)) ||
	    !(p = strdup(path)) || !(name = strdup(chunkname))) {
		free(b.data);
		free(entry);
		free(p);
		free(src);
		return;
	}
	*entry = (compiled_chunk){.path = p, .chunkname = name, .source = src, .source_len = len, .code = b.data,
				  .code_len = b.len};
	size_t bytes = len + b.len;
	pthread_mutex_lock(&chunks_lock);
	compiled_chunk **old = find_chunk(path, chunkname);
	size_t old_bytes = old ? (*old)->source_len + (*old)->code_len : 0;
	if (chunks_bytes - old_bytes + bytes > CHUNK_CACHE_BYTES) {
		pthread_mutex_unlock(&chunks_lock);
		free_chunk(entry);
		return;
	}
	if (old) { /* the file changed: its new text replaces the old one */
		compiled_chunk *stale = *old;
		*old = stale->next;
		free_chunk(stale);
	}
	entry->next = chunks;
	chunks = entry;
	chunks_bytes = chunks_bytes - old_bytes + bytes;
	pthread_mutex_unlock(&chunks_lock);
}

/* Loads path as text (or its text's cached bytecode, never a file's bytecode) with a fresh
 * read-only environment; platform: one of the platform's modules, read once per process.
 * Pushes the chunk, or raises (after freeing the buffer). */
static void load_chunk(lua_State *L, const char *path, const char *chunkname, bool platform)
{
	int rc = platform ? load_cached(L, path, chunkname, NULL, 0) : -1;
	if (rc == -1) {
		size_t len = 0;
		const char *why;
		char *src = read_source(path, &len, &why);
		if (!src)
			luaL_error(L, "%s %s", chunkname, why);
		rc = load_cached(L, path, chunkname, src, len);
		if (rc == -1) {
			rc = luaL_loadbufferx(L, src, len, chunkname, "t");
			if (rc == 0)
				keep_compiled(L, path, chunkname, src, len); /* owns src now */
			else
				free(src);
		} else {
			free(src);
		}
	}
	if (rc != 0)
		lua_error(L); /* the message is on the stack */
	push_env(L);
	lua_setfenv(L, -2);
}

static int sb_require(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	sandbox *sb = self_of(L);
	lua_pushlightuserdata(L, &KEY_LOADED);
	lua_rawget(L, LUA_REGISTRYINDEX); /* [name, loaded] */
	lua_getfield(L, -1, name);
	if (!lua_isnil(L, -1))
		return 1;
	lua_pop(L, 1);
	char path[1200], chunkname[256];
	if (sandboxed_module(name) && plain_name(name, true)) {
		snprintf(path, sizeof path, "%s/", sb->lua_dir);
		size_t off = strlen(path);
		for (const char *p = name; *p && off < sizeof path - 5; p++)
			path[off++] = *p == '.' ? '/' : *p;
		snprintf(path + off, sizeof path - off, ".lua");
		snprintf(chunkname, sizeof chunkname, "@%s", name);
	} else if (plain_name(name, false) && sb->flow_dir[0]) {
		snprintf(path, sizeof path, "%s/%s.lua", sb->flow_dir, name);
		snprintf(chunkname, sizeof chunkname, "@%s.lua", name);
	} else {
		return luaL_error(L, "module '%s' is not available to flows", name);
	}
	if (!sandboxed_module(name)) {
		FILE *probe = fopen(path, "rb");
		if (!probe)
			return luaL_error(L, "module '%s' is not available to flows (no %s.lua in the flow's directory)",
					  name, name);
		fclose(probe);
	}
	load_chunk(L, path, chunkname, sandboxed_module(name));
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	if (lua_type(L, -1) == LUA_TTABLE)
		make_readonly(L); /* a flow cannot patch the platform's modules for the code that uses them */
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

/* ---- Copying plain data between states ---- */

typedef struct copy_ctx {
	int items;
	size_t bytes;
	const char *err;
} copy_ctx;

/* Copies the value at idx of `from` onto `to`. On failure pushes nil and sets ctx->err. */
static void copy_value(lua_State *from, int idx, lua_State *to, int depth, copy_ctx *ctx)
{
	if (idx < 0)
		idx = lua_gettop(from) + idx + 1;
	if (ctx->err || ++ctx->items > MAX_COPY_ITEMS) {
		if (!ctx->err)
			ctx->err = "value too large to pass";
		lua_pushnil(to);
		return;
	}
	switch (lua_type(from, idx)) {
	case LUA_TNIL:
		lua_pushnil(to);
		break;
	case LUA_TBOOLEAN:
		lua_pushboolean(to, lua_toboolean(from, idx));
		break;
	case LUA_TNUMBER:
		lua_pushnumber(to, lua_tonumber(from, idx));
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(from, idx, &len);
		ctx->bytes += len;
		if (ctx->bytes > MAX_COPY_BYTES) {
			ctx->err = "value too large to pass";
			lua_pushnil(to);
			return;
		}
		lua_pushlstring(to, s, len);
		break;
	}
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(from, idx) == NULL) { /* JSON null */
			lua_pushlightuserdata(to, NULL);
			break;
		}
		/* fall through */
	case LUA_TTABLE:
		if (lua_type(from, idx) == LUA_TTABLE) {
			if (depth >= MAX_COPY_DEPTH || !lua_checkstack(from, 3) || !lua_checkstack(to, 3)) {
				ctx->err = "value nested too deep to pass (or cyclic)";
				lua_pushnil(to);
				return;
			}
			lua_newtable(to);
			lua_pushnil(from);
			while (lua_next(from, idx)) { /* raw: no metamethod of the other side ever runs */
				int kt = lua_type(from, -2);
				if (kt != LUA_TSTRING && kt != LUA_TNUMBER && kt != LUA_TBOOLEAN) {
					ctx->err = "table keys must be strings, numbers or booleans";
					lua_pop(from, 2);
					return;
				}
				copy_value(from, -2, to, depth + 1, ctx);
				copy_value(from, -1, to, depth + 1, ctx);
				lua_rawset(to, -3);
				lua_pop(from, 1);
				if (ctx->err) {
					lua_pop(from, 1);
					return;
				}
			}
			break;
		}
		/* fall through */
	default:
		ctx->err = "only plain data (nil, booleans, numbers, strings, tables) can pass";
		lua_pushnil(to);
		break;
	}
}

/* ---- Running code in the sandbox ---- */

/* Message handler: errors become tables {message, source, line, traceback}. Calls no metamethod. */
static int on_error(lua_State *L)
{
	lua_createtable(L, 0, 4); /* [err, t] */
	if (lua_type(L, 1) == LUA_TSTRING)
		lua_pushvalue(L, 1);
	else
		lua_pushfstring(L, "(error object is a %s)", luaL_typename(L, 1));
	lua_setfield(L, -2, "message");
	lua_Debug ar;
	for (int level = 1; lua_getstack(L, level, &ar); level++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && ar.source[0] == '@') {
			lua_pushstring(L, ar.source + 1);
			lua_setfield(L, -2, "source");
			lua_pushinteger(L, ar.currentline);
			lua_setfield(L, -2, "line");
			break;
		}
	}
	luaL_traceback(L, L, NULL, 1);
	lua_setfield(L, -2, "traceback");
	return 1;
}

/* Pushes onto the caller an error table {message, kind, source?, line?} from the sandbox's
 * error value at the top of its stack (or from `message` when given). */
static int push_failure(lua_State *caller, sandbox *sb, int status, const char *message)
{
	lua_pushnil(caller);
	lua_createtable(caller, 0, 4);
	const char *kind = sb->killed ? (strstr(sb->killed, "deadline") ? "deadline" : "budget")
			   : status == LUA_ERRMEM ? "memory" : "error";
	lua_pushstring(caller, kind);
	lua_setfield(caller, -2, "kind");
	if (message) {
		lua_pushstring(caller, message);
		lua_setfield(caller, -2, "message");
		return 2;
	}
	lua_State *L = sb->L;
	if (lua_type(L, -1) == LUA_TTABLE) {
		static const char *const FIELDS[] = {"message", "source", "line", "traceback", NULL};
		for (const char *const *f = FIELDS; *f; f++) {
			lua_getfield(L, -1, *f);
			if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
				copy_value(L, -1, caller, 0, &(copy_ctx){0});
				lua_setfield(caller, -2, *f);
			}
			lua_pop(L, 1);
		}
	} else {
		lua_pushstring(caller, status == LUA_ERRMEM ? "not enough memory (the call's memory cap)" : "error");
		lua_setfield(caller, -2, "message");
	}
	if (sb->killed) {
		lua_pushstring(caller, sb->killed);
		lua_setfield(caller, -2, "message");
	}
	return 2;
}

typedef struct copy_in {
	lua_State *from;
	int first, count;
	copy_ctx ctx;
} copy_in;

/* Protected on the sandbox: copies the caller's arguments in (allocation may hit the cap). */
static int copy_args_in(lua_State *L)
{
	copy_in *ci = lua_touserdata(L, 1);
	lua_pop(L, 1);
	for (int i = 0; i < ci->count; i++)
		copy_value(ci->from, ci->first + i, L, 0, &ci->ctx);
	return ci->count;
}

static void arm(sandbox *sb)
{
	sb->spent = 0;
	sb->cpu_started = thread_cpu_ms(); /* readable: checked in sandbox.new */
	sb->wall_started = sova_monotonic_ms();
	lua_sethook(sb->L, hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void disarm(sandbox *sb)
{
	if (!sb->killed)
		lua_sethook(sb->L, NULL, 0, 0);
}

static sandbox *check_sandbox(lua_State *L)
{
	sandbox *sb = luaL_checkudata(L, 1, SANDBOX_MT);
	if (!sb->L)
		luaL_error(L, "sandbox is closed");
	return sb;
}

/* Calls the function below `nargs` copied args on the sandbox's stack (above the handler at
 * base) and copies up to `nres` results to the caller. */
static int run(lua_State *caller, sandbox *sb, int base, int nargs)
{
	lua_State *L = sb->L;
	arm(sb);
	int status = lua_pcall(L, nargs, LUA_MULTRET, base);
	disarm(sb);
	/* The hook checks the clocks every HOOK_EVERY instructions: a callback that ran past the
	 * wall-clock cap after its last check (stopped or descheduled near its end) is over it all the
	 * same, and the call fails as if the hook had caught it. */
	if (status == 0 && !sb->killed && sova_monotonic_ms() - sb->wall_started > sb->wall_deadline_ms) {
		sb->killed = "wall-clock deadline exceeded";
		lua_settop(L, 0);
		return push_failure(caller, sb, 0, NULL);
	}
	if (status != 0) {
		int n = push_failure(caller, sb, status, NULL);
		lua_settop(L, 0);
		return n;
	}
	int nres = lua_gettop(L) - base;
	copy_ctx ctx = {0};
	for (int i = 1; i <= nres; i++)
		copy_value(L, base + i, caller, 0, &ctx);
	lua_settop(L, 0);
	if (ctx.err) {
		lua_pop(caller, nres);
		return push_failure(caller, sb, 0, ctx.err);
	}
	if (nres == 0) {
		lua_pushnil(caller);
		return 1;
	}
	return nres;
}

/* Protected on the sandbox: loads and runs the flow file (text only, fresh environment) and
 * keeps its value as the flow. */
static int do_load_flow(lua_State *L)
{
	const char *path = lua_touserdata(L, 1);
	char chunkname[600];
	snprintf(chunkname, sizeof chunkname, "@%s", path);
	load_chunk(L, path, chunkname, false);
	lua_call(L, 0, 1);
	if (lua_type(L, -1) != LUA_TTABLE)
		return luaL_error(L, "%s must return a flow (a table)", path);
	lua_pushlightuserdata(L, &KEY_FLOW);
	lua_insert(L, -2);
	lua_rawset(L, LUA_REGISTRYINDEX);
	return 0;
}

/* sb:load_flow(path) -> true | nil, err: runs the flow file; its value is kept as the flow. */
static int l_load_flow(lua_State *caller)
{
	sandbox *sb = check_sandbox(caller);
	const char *path = luaL_checkstring(caller, 2);
	if (sb->killed)
		return push_failure(caller, sb, 0, NULL);
	lua_State *L = sb->L;
	lua_settop(L, 0);
	lua_pushcfunction(L, on_error);
	lua_pushcfunction(L, do_load_flow);
	lua_pushlightuserdata(L, (void *)path); /* anchored in the caller's stack meanwhile */
	arm(sb);
	int status = lua_pcall(L, 1, 0, 1);
	disarm(sb);
	if (status != 0) {
		int n = push_failure(caller, sb, status, NULL);
		lua_settop(L, 0);
		return n;
	}
	lua_settop(L, 0);
	lua_pushboolean(caller, 1);
	return 1;
}

/* Protected on the sandbox: pushes require(FLOW_LIBRARY)[fname] and the flow. */
static int push_flow_fn(lua_State *L)
{
	const char *fname = lua_tostring(L, 1);
	lua_pushcfunction(L, sb_require);
	lua_pushliteral(L, FLOW_LIBRARY);
	lua_call(L, 1, 1);
	lua_getfield(L, -1, fname);
	if (!lua_isfunction(L, -1))
		return luaL_error(L, FLOW_LIBRARY " has no function '%s'", fname);
	lua_pushlightuserdata(L, &KEY_FLOW);
	lua_rawget(L, LUA_REGISTRYINDEX);
	if (lua_isnil(L, -1))
		return luaL_error(L, "no flow loaded");
	return 2;
}

/* sb:flow_call(fname, args...) -> results | nil, err: calls require(FLOW_LIBRARY)[fname](flow, args...)
 * in the sandbox with the budget; arguments and results are copied as plain data. */
static int l_flow_call(lua_State *caller)
{
	sandbox *sb = check_sandbox(caller);
	const char *fname = luaL_checkstring(caller, 2);
	int nargs = lua_gettop(caller) - 2;
	if (sb->killed)
		return push_failure(caller, sb, 0, NULL);
	lua_State *L = sb->L;
	lua_settop(L, 0);
	lua_pushcfunction(L, on_error); /* 1 */
	int base = 1;
	/* the function and the flow, resolved under the budget too (require runs module code) */
	lua_pushcfunction(L, push_flow_fn);
	lua_pushstring(L, fname);
	arm(sb);
	int status = lua_pcall(L, 1, 2, base);
	disarm(sb);
	if (status != 0) {
		int n = push_failure(caller, sb, status, NULL);
		lua_settop(L, 0);
		return n;
	}
	/* [handler, fn, flow] + copied args */
	copy_in ci = {.from = caller, .first = 3, .count = nargs};
	lua_pushcfunction(L, copy_args_in);
	lua_pushlightuserdata(L, &ci);
	status = lua_pcall(L, 1, nargs, base);
	if (status != 0 || ci.ctx.err) {
		int n = push_failure(caller, sb, status, ci.ctx.err ? ci.ctx.err : NULL);
		lua_settop(L, 0);
		return n;
	}
	return run(caller, sb, base, nargs + 1);
}

/* sb:memory() -> bytes in use, cap */
static int l_memory(lua_State *caller)
{
	sandbox *sb = check_sandbox(caller);
	lua_pushnumber(caller, (lua_Number)sb->used);
	lua_pushnumber(caller, (lua_Number)sb->limit);
	return 2;
}

/* sb:killed() -> reason | nil */
static int l_killed(lua_State *caller)
{
	sandbox *sb = check_sandbox(caller);
	if (!sb->killed)
		return 0;
	lua_pushstring(caller, sb->killed);
	return 1;
}

static int l_close(lua_State *caller)
{
	sandbox *sb = luaL_checkudata(caller, 1, SANDBOX_MT);
	if (sb->L)
		close_state(sb);
	return 0;
}

static lua_Number opt_field(lua_State *L, int t, const char *k, lua_Number def, lua_Number min, lua_Number max)
{
	lua_getfield(L, t, k);
	lua_Number v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
	lua_pop(L, 1);
	if (v < min || v > max)
		luaL_error(L, "sandbox option %s must be within [%f, %f]", k, min, max);
	return v;
}

static void copy_dir(lua_State *L, int t, const char *k, char *out, size_t outlen, const char *def)
{
	lua_getfield(L, t, k);
	const char *v = lua_isnil(L, -1) ? def : luaL_checkstring(L, -1);
	if (v && strlen(v) >= outlen)
		luaL_error(L, "sandbox option %s too long", k);
	snprintf(out, outlen, "%s", v ? v : "");
	lua_pop(L, 1);
}

/* sandbox.new{memory_limit=, instruction_budget=, deadline_ms=, wall_deadline_ms=, flow_dir=, lua_dir=}
 * -> sandbox | nil, err. deadline_ms is CPU time of the calling thread per callback;
 * wall_deadline_ms (default WALL_CAP_FACTOR times it) bounds the same callback on the wall clock. */
static int l_new(lua_State *caller)
{
	luaL_checktype(caller, 1, LUA_TTABLE);
	size_t limit = (size_t)opt_field(caller, 1, "memory_limit", 8 * 1024 * 1024, 256 * 1024, 1024.0 * 1024 * 1024);
	lua_Number budget = opt_field(caller, 1, "instruction_budget", 1e7, 1e3, 1e12);
	lua_Number deadline = opt_field(caller, 1, "deadline_ms", 250, 1, 600000);
	lua_Number wall_deadline = opt_field(caller, 1, "wall_deadline_ms", deadline * WALL_CAP_FACTOR, 1,
					     600000.0 * WALL_CAP_FACTOR);
	char lua_dir[512], flow_dir[512];
	copy_dir(caller, 1, "lua_dir", lua_dir, sizeof lua_dir, sova_lua_dir());
	copy_dir(caller, 1, "flow_dir", flow_dir, sizeof flow_dir, "");

	if (thread_cpu_ms() < 0) {
		lua_pushnil(caller);
		lua_pushfstring(caller, "cannot read the thread's CPU time: %s", strerror(errno));
		return 2;
	}

	sandbox *sb = lua_newuserdata(caller, sizeof *sb); /* owned by Lua now */
	memset(sb, 0, sizeof *sb);
	luaL_getmetatable(caller, SANDBOX_MT);
	lua_setmetatable(caller, -2);
	sb->limit = limit;
	sb->budget = (long long)budget;
	sb->cpu_deadline_ms = deadline;
	sb->wall_deadline_ms = wall_deadline;
	memcpy(sb->lua_dir, lua_dir, sizeof lua_dir);
	memcpy(sb->flow_dir, flow_dir, sizeof flow_dir);
	/* pages at most twice the cap: past it a state churning through block sizes is refused */
	sova_arena_init(&sb->arena, 2 * limit);
	sb->L = lua_newstate(sb_alloc, sb);
	if (!sb->L) {
		sova_arena_release(&sb->arena);
		lua_pushnil(caller);
		lua_pushliteral(caller, "cannot create a Lua state (memory cap too small?)");
		return 2;
	}
	luaJIT_setmode(sb->L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
	lua_pushlightuserdata(sb->L, &KEY_SELF);
	lua_pushlightuserdata(sb->L, sb);
	lua_rawset(sb->L, LUA_REGISTRYINDEX);
	if (lua_cpcall(sb->L, build_sandbox, NULL) != 0) {
		close_state(sb);
		lua_pushnil(caller);
		lua_pushliteral(caller, "cannot build the sandbox (memory cap too small?)");
		return 2;
	}
	return 1;
}

int sova_open_sandbox(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"load_flow", l_load_flow}, {"flow_call", l_flow_call}, {"memory", l_memory},
		{"killed", l_killed},       {"close", l_close},         {NULL, NULL},
	};
	luaL_newmetatable(L, SANDBOX_MT);
	lua_newtable(L);
	luaL_register(L, NULL, methods);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_close);
	lua_setfield(L, -2, "__gc");
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	lua_newtable(L);
	lua_pushcfunction(L, l_new);
	lua_setfield(L, -2, "new");
	return 1;
}
