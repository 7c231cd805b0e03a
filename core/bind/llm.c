/* The `llm` table of sova.core: the model providers' wire formats read in C.
 *
 * llm.openai_stream(max_event_bytes) -> stream | nil, err: an OpenAI Chat Completions stream
 * (core/llm/openai_stream.h), read as its body arrives:
 *   stream:feed(bytes[, pieces]) -> n, failure, message
 *   stream:finish([pieces])      -> n, failure, message
 *     n text deltas read are pieces[1..n] (none without a pieces table); failure is nil, or
 *     "malformed", "too_big", "error_event" (message: the event's data, JSON), "incomplete" or
 *     "out_of_memory", and then stays so.
 *   stream:result() -> text, finish_reason | nil, {{id = | nil, name =, arguments = <JSON text>}...},
 *     {prompt_tokens =, completion_tokens =, total_tokens =} (those the server gave)
 */
#include "bind/sova_bind.h"
#include "llm/openai_stream.h"

#define OPENAI_STREAM_MT "sova.llm.openai_stream"

static sova_oai_stream **check_stream(lua_State *L)
{
	sova_oai_stream **s = luaL_checkudata(L, 1, OPENAI_STREAM_MT);
	luaL_argcheck(L, *s != NULL, 1, "a freed stream");
	return s;
}

static int l_openai_stream(lua_State *L)
{
	lua_Number max = luaL_checknumber(L, 1);
	luaL_argcheck(L, max >= 1 && max <= 1024.0 * 1024 * 1024, 1, "1 byte to 1 GiB");
	sova_oai_stream **s = lua_newuserdata(L, sizeof *s);
	*s = NULL;
	luaL_getmetatable(L, OPENAI_STREAM_MT);
	lua_setmetatable(L, -2);
	*s = sova_oai_stream_new((size_t)max); /* owned by the userdata now (freed by __gc) */
	if (!*s) {
		lua_pushnil(L);
		lua_pushliteral(L, "out of memory");
		return 2;
	}
	return 1;
}

static const char *const FAILURES[] = {
	[SOVA_OAI_MALFORMED] = "malformed",   [SOVA_OAI_TOO_BIG] = "too_big",
	[SOVA_OAI_ERROR_EVENT] = "error_event", [SOVA_OAI_INCOMPLETE] = "incomplete",
	[SOVA_OAI_OUT_OF_MEMORY] = "out_of_memory",
};

/* [stream, bytes?, pieces?] -> n, failure, message */
static int read_result(lua_State *L, sova_oai_stream *s, sova_oai_status st, int pieces)
{
	size_t n = lua_istable(L, pieces) ? sova_oai_stream_pieces(s) : 0;
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *p = sova_oai_stream_piece(s, i, &len);
		lua_pushlstring(L, p, len);
		lua_rawseti(L, pieces, (int)i + 1);
	}
	lua_pushinteger(L, (lua_Integer)n);
	if (st == SOVA_OAI_OK)
		return 1;
	lua_pushstring(L, FAILURES[st]);
	size_t len;
	const char *msg = sova_oai_stream_message(s, &len);
	lua_pushlstring(L, msg, len);
	return 3;
}

static int l_feed(lua_State *L)
{
	sova_oai_stream *s = *check_stream(L);
	size_t len;
	const char *bytes = luaL_checklstring(L, 2, &len);
	if (!lua_isnoneornil(L, 3))
		luaL_checktype(L, 3, LUA_TTABLE);
	return read_result(L, s, sova_oai_stream_feed(s, bytes, len), 3);
}

static int l_finish(lua_State *L)
{
	sova_oai_stream *s = *check_stream(L);
	if (!lua_isnoneornil(L, 2))
		luaL_checktype(L, 2, LUA_TTABLE);
	return read_result(L, s, sova_oai_stream_finish(s), 2);
}

static int l_result(lua_State *L)
{
	sova_oai_stream *s = *check_stream(L);
	size_t len;
	const char *text = sova_oai_stream_text(s, &len);
	lua_pushlstring(L, text, len);
	const char *reason = sova_oai_stream_finish_reason(s, &len);
	if (reason)
		lua_pushlstring(L, reason, len);
	else
		lua_pushnil(L);
	size_t n = sova_oai_stream_tool_calls(s);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		sova_oai_tool_call c;
		sova_oai_stream_tool_call(s, i, &c);
		lua_createtable(L, 0, 3);
		if (c.id) {
			lua_pushlstring(L, c.id, c.id_len);
			lua_setfield(L, -2, "id");
		}
		lua_pushlstring(L, c.name, c.name_len);
		lua_setfield(L, -2, "name");
		lua_pushlstring(L, c.arguments, c.arguments_len);
		lua_setfield(L, -2, "arguments");
		lua_rawseti(L, -2, (int)i + 1);
	}
	static const char *const USAGE[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
	double usage[3];
	unsigned set = sova_oai_stream_usage(s, usage);
	lua_createtable(L, 0, 3);
	for (int i = 0; i < 3; i++)
		if (set & (1u << i)) {
			lua_pushnumber(L, usage[i]);
			lua_setfield(L, -2, USAGE[i]);
		}
	return 4;
}

static int l_gc(lua_State *L)
{
	sova_oai_stream **s = luaL_checkudata(L, 1, OPENAI_STREAM_MT);
	sova_oai_stream_free(*s);
	*s = NULL;
	return 0;
}

int sova_open_llm(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{"feed", l_feed}, {"finish", l_finish}, {"result", l_result}, {NULL, NULL},
	};
	if (luaL_newmetatable(L, OPENAI_STREAM_MT)) {
		lua_newtable(L);
		luaL_register(L, NULL, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_pop(L, 1);
	static const luaL_Reg fns[] = {{"openai_stream", l_openai_stream}, {NULL, NULL}};
	lua_newtable(L);
	luaL_register(L, NULL, fns);
	return 1;
}
