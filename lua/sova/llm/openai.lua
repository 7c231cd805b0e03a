-- sova.llm.openai: the `openai` LLM provider — OpenAI Chat Completions with streaming and tool
-- calls, for OpenAI and compatible servers (vLLM, Ollama, llama.cpp server, Groq, ...).
--
--   local openai = require("sova.llm.openai")
--   local llm = openai.new{ model = "gpt-4o-mini", api_key = os.getenv("OPENAI_API_KEY") }
--   local out, err = llm:respond{
--     messages = { {role = "system", content = "..."}, {role = "user", content = "..."} },
--     tools = { {name = "record_status", description = "...", parameters = {type = "object", ...}} },
--     on_text = function(delta) ... end,   -- optional: each piece of text as it streams in
--     on_first_byte = function() end,      -- optional: once, when a 2xx answer's body begins
--   }
--   -- out = { text = "...", tool_calls = { {id =, name =, arguments = <table>} },
--   --         usage = {prompt_tokens =, completion_tokens =, total_tokens =}, finish_reason = "stop" }
--   -- or nil, "openai: ..." on failure
--
-- Requests stream (`stream: true`) over core.http.stream; the server-sent events are parsed as they
-- arrive, whatever the chunk boundaries. 408/409/429/5xx answers, connection failures and timeouts
-- are retried with exponential backoff (honouring Retry-After) as long as no text has been handed to
-- on_text yet; 400/401/403/404/422 are not. Misuse of the API (bad options, bad messages) raises.
--
-- Privacy: the API key is kept out of the client table, scrubbed from error messages, and never
-- logged; logs (retries only) carry counts, statuses and error codes, never message contents.
local core = require("sova.core")
local cjson = require("cjson")
local json = require("sova.json")

local http, sys = core.http, core.sys
local type, pairs, ipairs, tostring, tonumber, setmetatable = type, pairs, ipairs, tostring, tonumber, setmetatable
local find, sub, format, gsub, match = string.find, string.sub, string.format, string.gsub, string.match
local floor, min, max, random = math.floor, math.min, math.max, math.random

local M = {}

M.DEFAULT_BASE_URL = "https://api.openai.com/v1"
M.MAX_EVENT_BYTES = 1024 * 1024 -- one server-sent event (line or data) larger than this fails the answer

local decoder = cjson.new()
decoder.decode_max_depth(64)
decoder.decode_invalid_numbers(false)

local function decode(s)
  local ok, v = pcall(decoder.decode, s)
  if ok then return v end
  return nil, tostring(v)
end

local NULL = cjson.null
local ARRAY_MT = core.bson.array_mt

---------------------------------------------------------------------------------------------
-- the stream parser

-- A parser of one streamed answer: feed(chunk) with the body pieces as they arrive, finish()
-- at the end. The events are read in C (core.llm.openai_stream: no Lua table per chunk); here
-- each text piece goes to on_text, and failure = {message, retryable} is set when the stream
-- reported an error or could not be read; emitted = true once on_text got a piece.
local Parser = {}
Parser.__index = Parser

function M.new_stream_parser(on_text)
  return setmetatable({
    stream = assert(core.llm.openai_stream(M.MAX_EVENT_BYTES)), on_text = on_text,
    pieces = on_text and {} or nil, emitted = false,
  }, Parser)
end

function Parser:fail(message, retryable, fatal)
  if not self.failure then self.failure = { message = message, retryable = retryable, fatal = fatal } end
  return false
end

local function short(s, n)
  s = tostring(s or "")
  n = n or 300
  if #s > n then s = sub(s, 1, n) .. "..." end
  return (gsub(s, "[%c]", " "))
end

-- An event with an error member (its JSON): the server's message and code.
local function stream_error(data)
  local obj = decode(data)
  local e = type(obj) == "table" and obj.error or nil
  local msg = type(e) == "table" and e.message or e
  local code = type(e) == "table" and (e.code ~= NULL and e.code or e.type) or nil
  return format("openai: server error in stream%s: %s",
    code and code ~= NULL and (" (" .. short(code, 60) .. ")") or "", short(msg))
end

-- What a feed or finish read: n text pieces, then the failure, if any.
function Parser:read(n, failure, message)
  local on_text, pieces = self.on_text, self.pieces
  for i = 1, n do
    self.emitted = true
    local ok, err = pcall(on_text, pieces[i])
    if not ok then return self:fail("openai: on_text failed: " .. short(err), false, true) end
  end
  if failure == "error_event" then return self:fail(stream_error(message), true) end
  if failure then return self:fail("openai: " .. message, failure == "incomplete") end
  return true
end

-- Feeds a piece of the body. Returns false once the answer has failed (see self.failure).
function Parser:feed(chunk)
  if self.failure then return false end
  return self:read(self.stream:feed(chunk, self.pieces))
end

-- The end of the body: dispatches what a server left without its final blank line.
function Parser:finish()
  if self.failure then return false end
  return self:read(self.stream:finish(self.pieces))
end

-- The answer: {text, tool_calls, usage, finish_reason} | nil, err (malformed tool arguments).
function Parser:result()
  local text, finish_reason, raw_calls, usage = self.stream:result()
  local calls = json.array({})
  for n, call in ipairs(raw_calls) do
    local name, raw = call.name, call.arguments
    local args
    if find(raw, "^%s*$") then
      args = {} -- a function without parameters: some servers send "" for {}
    else
      local v, err = decode(raw)
      if type(v) ~= "table" or v[1] ~= nil then
        return nil, format("openai: malformed tool arguments for '%s': %s", short(name, 64),
          v == nil and ("not JSON (" .. short(err, 100) .. ")") or "not a JSON object")
      end
      args = v
    end
    if name == "" then return nil, "openai: a tool call came without a function name" end
    calls[#calls + 1] = { id = call.id or ("call_" .. n), name = name, arguments = args }
  end
  return { text = text, tool_calls = calls, usage = usage, finish_reason = finish_reason }
end

---------------------------------------------------------------------------------------------
-- requests

local ROLES = { system = true, user = true, assistant = true, tool = true }
local TOOL_NAME = "^[%w_%-]+$"

-- JSON-schema keywords whose values are arrays: an empty Lua table there must encode as [].
local ARRAY_KEYWORDS = { required = true, enum = true, oneOf = true, anyOf = true, allOf = true,
  prefixItems = true, examples = true }

local function schema_copy(v, key, depth)
  if depth > 32 then error("openai: tool parameters nest deeper than 32", 0) end
  if type(v) ~= "table" or v == NULL then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = schema_copy(x, k, depth + 1) end
  if getmetatable(v) == ARRAY_MT or (next(out) == nil and ARRAY_KEYWORDS[key]) then return json.array(out) end
  return out
end

local function arg_error(what, level)
  error("openai: " .. what, level or 3)
end

local function encode_arguments(a, where)
  if type(a) == "string" then return a end
  if type(a) == "table" then return json.encode(a) end
  if a == nil then return "{}" end
  arg_error(where .. ".arguments must be a table or a JSON string", 5)
end

-- one message in OpenAI's shape; raises on a malformed one
local function convert_message(m, i)
  local where = "messages[" .. i .. "]"
  if type(m) ~= "table" or not ROLES[m.role] then
    arg_error(where .. ".role must be system, user, assistant or tool", 4)
  end
  local o = { role = m.role }
  if m.role == "tool" then
    if type(m.tool_call_id) ~= "string" or m.tool_call_id == "" then
      arg_error(where .. ".tool_call_id must be a non-empty string", 4)
    end
    o.tool_call_id = m.tool_call_id
    if type(m.content) == "table" then
      o.content = json.encode(m.content)
    elseif type(m.content) == "string" then
      o.content = m.content
    else
      arg_error(where .. ".content must be a string or a table", 4)
    end
  elseif m.role == "assistant" then
    if m.content ~= nil and type(m.content) ~= "string" then arg_error(where .. ".content must be a string", 4) end
    o.content = m.content
    if m.tool_calls ~= nil then
      if type(m.tool_calls) ~= "table" then arg_error(where .. ".tool_calls must be an array", 4) end
      local tcs = json.array({})
      for j, tc in ipairs(m.tool_calls) do
        local w = where .. ".tool_calls[" .. j .. "]"
        if type(tc) ~= "table" or type(tc.id) ~= "string" or type(tc.name) ~= "string" then
          arg_error(w .. " needs string id and name", 4)
        end
        tcs[j] = { id = tc.id, type = "function",
          ["function"] = { name = tc.name, arguments = encode_arguments(tc.arguments, w) } }
      end
      if #tcs > 0 then o.tool_calls = tcs end
    end
    if o.content == nil then o.content = o.tool_calls and NULL or "" end
  else
    if type(m.content) ~= "string" then arg_error(where .. ".content must be a string", 4) end
    o.content = m.content
  end
  return o
end

-- Every request carries the whole history, which grows by a few messages a turn: each message's
-- JSON is kept by its table, with the fields it was made from, and used while they are the same
-- (a line cut short by an interruption is encoded anew). Messages with tool calls or a table
-- content are encoded every time.
local encoded_messages = setmetatable({}, { __mode = "k" })

local function convert_messages(messages)
  if type(messages) ~= "table" or #messages == 0 then arg_error("request.messages must be a non-empty array") end
  local out = json.array({})
  for i, m in ipairs(messages) do
    local kept = type(m) == "table" and encoded_messages[m]
    if kept and kept.role == m.role and kept.content == m.content and kept.tool_call_id == m.tool_call_id
        and m.tool_calls == nil then
      out[i] = kept.json
    else
      out[i] = json.raw(json.encode(convert_message(m, i)))
      if m.tool_calls == nil and type(m.content) ~= "table" then
        encoded_messages[m] = { role = m.role, content = m.content, tool_call_id = m.tool_call_id, json = out[i] }
      end
    end
  end
  return out
end

-- A call offers the same tools turn after turn: each tool's JSON is kept by its parameters table
-- (a request's parameters are read as immutable: the same table always encodes the same way),
-- with the name and description it was made with.
local encoded_tools = setmetatable({}, { __mode = "k" })

local function convert_tools(tools)
  if tools == nil then return nil end
  if type(tools) ~= "table" then arg_error("request.tools must be an array") end
  if #tools == 0 then return nil end
  local out = json.array({})
  for i, t in ipairs(tools) do
    local where = "tools[" .. i .. "]"
    if type(t) ~= "table" or type(t.name) ~= "string" or #t.name > 64 or not find(t.name, TOOL_NAME) then
      arg_error(where .. ".name must be 1-64 letters, digits, '_' or '-'")
    end
    if t.description ~= nil and type(t.description) ~= "string" then
      arg_error(where .. ".description must be a string")
    end
    if t.parameters ~= nil and type(t.parameters) ~= "table" then
      arg_error(where .. ".parameters must be a JSON schema table")
    end
    local kept = t.parameters and encoded_tools[t.parameters]
    if not (kept and kept.name == t.name and kept.description == t.description) then
      local params = t.parameters and schema_copy(t.parameters, nil, 0) or { type = "object", properties = {} }
      kept = { name = t.name, description = t.description, json = json.raw(json.encode({ type = "function",
        ["function"] = { name = t.name, description = t.description, parameters = params } })) }
      if t.parameters then encoded_tools[t.parameters] = kept end
    end
    out[i] = kept.json
  end
  return out
end

local function convert_tool_choice(tc)
  if tc == nil then return nil end
  if tc == "auto" or tc == "none" or tc == "required" then return tc end
  if type(tc) == "table" and type(tc.name) == "string" then
    return { type = "function", ["function"] = { name = tc.name } }
  end
  arg_error("request.tool_choice must be auto, none, required or {name =}")
end

---------------------------------------------------------------------------------------------
-- the client

local Client = {}
Client.__index = Client
Client.__tostring = function(c) return "openai client (" .. c.model .. " at " .. c.base_url .. ")" end

-- API keys, out of the client tables (so that dumping or encoding a client shows no key).
local keys = setmetatable({}, { __mode = "k" })

local function check_number(opts, name, lo, hi, default)
  local v = opts[name]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or v < lo or v > hi then
    error(format("openai.new: %s must be a number in %s..%s", name, tostring(lo), tostring(hi)), 3)
  end
  return v
end

-- openai.new{model =, api_key = (absent for servers without auth), base_url = DEFAULT_BASE_URL,
--   timeout_ms = 60000 (a whole attempt), idle_timeout_ms = 20000 (no byte for this long ends an
--   attempt), retries = 2, backoff_ms = 500, max_backoff_ms = 8000, temperature =, max_tokens =,
--   include_usage = true (stream_options.include_usage), headers = {Name = value},
--   log = function(event, fields) (default: sova.log.warn),
--   transport = function(req) -> {status, body, headers} | nil, err (default core.http.stream;
--     req = {method, url, headers, body, timeout_ms, idle_timeout_ms, on_data}: a transport may
--     call on_data(chunk) as pieces arrive, or return the whole body, which is parsed at the end),
--   sleep = function(seconds) between retries (default core.sys.sleep, which blocks the thread:
--     an event loop passes one that yields)} -> client. Raises on bad options.
function M.new(opts)
  if type(opts) ~= "table" then error("openai.new: an options table is expected", 2) end
  local base = opts.base_url or M.DEFAULT_BASE_URL
  if type(base) ~= "string" or not find(base, "^https?://[^%s]+$") then
    error("openai.new: base_url must be an http:// or https:// URL", 2)
  end
  base = gsub(base, "/+$", "")
  if type(opts.model) ~= "string" or opts.model == "" then error("openai.new: model must be a non-empty string", 2) end
  local key = opts.api_key
  if key ~= nil and (type(key) ~= "string" or key == "" or find(key, "[%c%s]")) then
    error("openai.new: api_key must be a non-empty string without spaces or control characters", 2)
  end
  local headers = {}
  if opts.headers ~= nil then
    if type(opts.headers) ~= "table" then error("openai.new: headers must be a table", 2) end
    for k, v in pairs(opts.headers) do
      if type(k) ~= "string" or type(v) ~= "string" then error("openai.new: headers must map strings to strings", 2) end
      headers[k] = v
    end
  end
  local retries = check_number(opts, "retries", 0, 10, 2)
  if retries ~= floor(retries) then error("openai.new: retries must be an integer", 2) end
  local max_tokens = check_number(opts, "max_tokens", 1, 1e6, nil)
  for _, name in ipairs({ "log", "transport", "sleep" }) do
    if opts[name] ~= nil and type(opts[name]) ~= "function" then error("openai.new: " .. name .. " must be a function", 2) end
  end
  local c = setmetatable({
    base_url = base,
    model = opts.model,
    timeout_ms = check_number(opts, "timeout_ms", 1, 3600000, 60000),
    idle_timeout_ms = check_number(opts, "idle_timeout_ms", 0, 3600000, 20000),
    retries = retries,
    backoff_ms = check_number(opts, "backoff_ms", 0, 60000, 500),
    max_backoff_ms = check_number(opts, "max_backoff_ms", 0, 600000, 8000),
    temperature = check_number(opts, "temperature", 0, 2, nil),
    max_tokens = max_tokens and floor(max_tokens) or nil,
    include_usage = opts.include_usage ~= false,
    headers = headers,
    log = opts.log,
    transport = opts.transport or http.stream,
    sleep = opts.sleep or sys.sleep,
  }, Client)
  keys[c] = key
  return c
end

function Client:log_event(event, fields)
  local log = self.log
  if not log then
    log = function(e, f) require("sova.log").warn(e, f) end
  end
  pcall(log, event, fields)
end

-- Removes the API key from any text that might carry it (servers echo keys in 401 messages).
function Client:scrub(s)
  local key = keys[self]
  if key and s then
    local i = find(s, key, 1, true)
    while i do
      s = sub(s, 1, i - 1) .. "[redacted]" .. sub(s, i + #key)
      i = find(s, key, 1, true)
    end
  end
  return s
end

-- The JSON body of a request.
function Client:body(request)
  local body = {
    model = self.model,
    messages = convert_messages(request.messages),
    stream = true,
    temperature = self.temperature,
    max_tokens = self.max_tokens,
    tools = convert_tools(request.tools),
    tool_choice = convert_tool_choice(request.tool_choice),
  }
  if self.include_usage then body.stream_options = { include_usage = true } end
  return json.encode(body)
end

local RETRY_STATUS = { [408] = true, [409] = true, [429] = true }

-- An HTTP error answer -> message, retryable, retry-after seconds (or nil)
local function http_failure(res)
  local status = res.status
  local detail = ""
  local err = decode(res.body or "")
  if type(err) == "table" and type(err.error) == "table" then
    local e = err.error
    local code = (type(e.code) == "string" and e.code) or (type(e.type) == "string" and e.type) or nil
    detail = (code and (" (" .. short(code, 60) .. ")") or "") .. ": " .. short(e.message)
  elseif type(err) == "table" and type(err.error) == "string" then
    detail = ": " .. short(err.error) -- Ollama, llama.cpp: {"error": "..."}
  elseif res.body and res.body ~= "" then
    detail = ": " .. short(res.body, 120)
  end
  local retryable = RETRY_STATUS[status] or status >= 500
  local after = tonumber(res.headers and res.headers["retry-after-ms"] or nil)
  after = after and after / 1000 or tonumber(res.headers and res.headers["retry-after"] or nil)
  return format("openai: HTTP %d%s", status, detail), retryable, after
end

-- One attempt: result | nil, err, retryable, retry_after
function Client:attempt(body, headers, on_text, on_first_byte)
  local parser = M.new_stream_parser(on_text)
  local function began()
    if on_first_byte then
      local f = on_first_byte
      on_first_byte = nil
      pcall(f)
    end
  end
  local res, err = self.transport {
    method = "POST",
    url = self.base_url .. "/chat/completions",
    headers = headers,
    body = body,
    timeout_ms = self.timeout_ms,
    idle_timeout_ms = self.idle_timeout_ms,
    on_data = function(chunk)
      began()
      return parser:feed(chunk)
    end,
  }
  if not res then
    err = tostring(err or "no answer")
    local kind = find(err:lower(), "timeout", 1, true) and "timeout" or "request failed"
    return nil, format("openai: %s: %s", kind, err), not parser.emitted
  end
  if res.status < 200 or res.status > 299 then
    local msg, retryable, after = http_failure(res)
    return nil, msg, retryable, after
  end
  if res.body and res.body ~= "" then -- a transport that does not stream
    began()
    parser:feed(res.body)
  end
  if res.stopped or not parser:finish() then
    local f = parser.failure or { message = "openai: the stream was stopped", retryable = false }
    return nil, f.message, f.retryable and not f.fatal and not parser.emitted
  end
  return parser:result()
end

-- client:respond{messages =, tools =, tool_choice =, on_text =, on_first_byte =} -> answer | nil, err
function Client:respond(request)
  if type(request) ~= "table" then error("openai: respond expects a request table", 2) end
  if request.on_text ~= nil and type(request.on_text) ~= "function" then
    error("openai: request.on_text must be a function", 2)
  end
  if request.on_first_byte ~= nil and type(request.on_first_byte) ~= "function" then
    error("openai: request.on_first_byte must be a function", 2)
  end
  local body = self:body(request)
  local headers = { ["Content-Type"] = "application/json", Accept = "text/event-stream" }
  for k, v in pairs(self.headers) do headers[k] = v end
  local key = keys[self]
  if key then headers.Authorization = "Bearer " .. key end
  local attempts = self.retries + 1
  local err
  for attempt = 1, attempts do
    local out, e, retryable, after = self:attempt(body, headers, request.on_text, request.on_first_byte)
    if out then return out end
    err = self:scrub(e)
    if not retryable or attempt == attempts then
      if attempt > 1 then err = format("%s (after %d attempts)", err, attempt) end
      return nil, err
    end
    local wait = self.backoff_ms * 2 ^ (attempt - 1) * (0.75 + 0.5 * random())
    if after then wait = max(wait, after * 1000) end
    wait = min(wait, self.max_backoff_ms)
    self:log_event("llm.retry", { provider = "openai", attempt = attempt,
      reason = match(err, "^openai: ([^:]+)"), wait_ms = floor(wait) })
    self.sleep(wait / 1000)
  end
  return nil, err
end

return M
