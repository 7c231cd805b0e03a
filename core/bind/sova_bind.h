/* The Lua bindings: shared declarations of core/bind/ (with the process mains' Lua glue, the only
 * part of core/ that includes lua.h). */
#ifndef SOVA_BIND_H
#define SOVA_BIND_H
#include <bson/bson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdbool.h>

/* Each API area fills one table and leaves it on the stack. */
int sova_open_bson(lua_State *L);
int sova_open_db(lua_State *L);
int sova_open_crypto(lua_State *L);
int sova_open_token(lua_State *L);
int sova_open_http(lua_State *L);
int sova_open_log(lua_State *L);
int sova_open_sys(lua_State *L);
int sova_open_sandbox(lua_State *L);
int sova_open_writer(lua_State *L);
int sova_open_ws_client(lua_State *L);
int sova_open_recording(lua_State *L);
int sova_open_yaml(lua_State *L);
int sova_open_llm(lua_State *L);
int sova_open_text(lua_State *L);
int sova_open_tz(lua_State *L);
int sova_open_lock(lua_State *L);
int sova_open_metrics(lua_State *L);
struct sova_stt_options;
/* The recognizer's listen options from a Lua table (speech.c; misuse raises; pushes 2 values). */
void sova_check_stt_options(lua_State *L, int idx, struct sova_stt_options *opt);
int sova_open_speech(lua_State *L); /* the CLI's offline voices on a virtual clock (flow eval --audio) */
#ifdef SOVA_TEST_SEAMS
int sova_open_recorder(lua_State *L); /* the specs' module only (CMakeLists.txt) */
#endif
int luaopen_sova_core(lua_State *L);
/* Directory of the platform Lua (lua/). */
const char *sova_lua_dir(void);

/* ---- BSON <-> Lua (core/bind/bson.c) ---- */
#define SOVA_OID_MT "sova.oid"
#define SOVA_DATE_MT "sova.date"
#define SOVA_ARRAY_MT "sova.array"
#define SOVA_ORDERED_MT "sova.ordered"
#define SOVA_BINARY_MT "sova.binary"
#define SOVA_BSON_MAX_DEPTH 64

/* Pushes a Lua table for doc: ObjectId -> sova.oid table {["$oid"]=hex}, datetime -> sova.date
 * table {["$date"]=ms}, arrays -> tables with the sova.array metatable, null -> lightuserdata NULL,
 * binary -> string (bson.binary(s) writes one). */
void sova_push_bson(lua_State *L, const bson_t *doc);
/* Appends the table at idx to an initialized doc. Never raises: false with a message in err. */
bool sova_to_bson(lua_State *L, int idx, bson_t *doc, char *err, size_t errlen);
/* Pushes a new sova.oid table. */
void sova_push_oid(lua_State *L, const bson_oid_t *oid);
/* true and fills oid when the value at idx is a sova.oid table. */
bool sova_check_oid(lua_State *L, int idx, bson_oid_t *oid);

/* ---- Trusted states (core/bind/host.c) ---- */
/* A trusted state: standard libraries, package.path at the platform's lua/, sova.core and cjson
 * preloaded. NULL on out of memory. */
lua_State *sova_host_new_state(void);
/* Where a server listens, as its Lua module's prepare() says. */
typedef struct sova_listen {
	char host[64];
	int port, threads;
} sova_listen;
/* require(module).prepare() -> {host, port, threads}; leaves the module table on the stack.
 * false (logged under event) when loading or preparing fails. Never raises. */
bool sova_host_prepare(lua_State *L, const char *module, const char *event, sova_listen *out);
/* Blocks SIGINT/SIGTERM in the calling thread (and the threads it starts later), fills stop with
 * them for sigwait, and ignores SIGPIPE. */
#include <signal.h>
void sova_host_block_stop_signals(sigset_t *stop);

/* A message handler for lua_pcall: the error with a traceback. */
int sova_host_traceback(lua_State *L);
/* lua_pcall with a traceback handler; on error logs it under event and pops it. */
int sova_host_pcall(lua_State *L, int nargs, int nresults, const char *event);
#endif
