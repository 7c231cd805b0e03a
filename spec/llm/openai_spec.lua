-- Specs of the `openai` LLM provider (lua/sova/llm/openai.lua): Chat Completions with streaming and
-- tool calls, against the loopback stand-in server spec/fixtures/llm/openai_standin.py, which
-- speaks OpenAI's wire format (chat.completion.chunk events, tool-call deltas over several chunks,
-- [DONE], OpenAI's error bodies) and records what it was sent.
-- Run: busted spec/llm/openai_spec.lua
local core = require("sova.core")
local testkit = require("sova.testkit") -- processes and ports: test tooling, not in the binary
local cjson = require("cjson")
local json = require("sova.json")
local openai = require("sova.llm.openai")
local standin = require("fixtures.llm.standin")
local proc = require("helpers.proc")

local sys = core.sys

local TEXT = "Hello from the stand-in. How can I help you today?"

local TOOLS = {
  {
    name = "record_status",
    description = "Record the prior authorization status the representative gave.",
    parameters = {
      type = "object",
      properties = {
        status = { type = "string", enum = { "approved", "denied", "pending" } },
        reference_number = { type = "string" },
      },
      required = { "status" },
    },
  },
  { name = "call_back_later", description = "The representative asked to call back.", parameters = { type = "object", properties = {}, required = {} } },
}

local function user(text) return { { role = "user", content = text } } end

describe("openai provider #llm", function()
  local s, logs

  lazy_setup(function()
    s = standin.start()
  end)

  lazy_teardown(function()
    if s then s:stop() end
    proc.cleanup()
  end)

  before_each(function()
    s:reset()
    logs = {}
  end)

  local function client(opts)
    local o = {
      base_url = s.base_url, api_key = s.api_key, model = "gpt-standin", backoff_ms = 1,
      timeout_ms = 10000, idle_timeout_ms = 3000,
      log = function(event, fields) logs[#logs + 1] = { event = event, fields = fields } end,
    }
    for k, v in pairs(opts or {}) do o[k] = v end
    return openai.new(o)
  end

  local function ask(script, opts, request)
    request = request or {}
    request.messages = request.messages or user("Hi there [script:" .. script .. "]")
    return client(opts):respond(request)
  end

  describe("answers", function()
    it("assembles streamed text deltas into the answer, with finish_reason and usage", function()
      local out, err = ask("text")
      assert.is_nil(err)
      assert.equal(TEXT, out.text)
      assert.same({}, out.tool_calls)
      assert.equal("stop", out.finish_reason)
      assert.same({ prompt_tokens = 42, completion_tokens = 10, total_tokens = 52 }, out.usage)
    end)

    it("hands each text delta to on_text in order, as it streams", function()
      local pieces = {}
      local out = assert(ask("text", nil, { on_text = function(d) pieces[#pieces + 1] = d end }))
      assert.equal(10, #pieces)
      assert.equal("Hello ", pieces[1])
      assert.equal(TEXT, table.concat(pieces))
      assert.equal(TEXT, out.text)
    end)

    it("calls on_first_byte once, when a 2xx answer's body begins (before its first text), also for a "
      .. "tool-only answer, and not for an error answer it retries", function()
      for _, script in ipairs({ "text", "tool", "429_then_text" }) do
        s:reset()
        local order = {}
        local out = assert(ask(script, nil, {
          on_first_byte = function() order[#order + 1] = "byte" end,
          on_text = function() order[#order + 1] = "text" end,
        }))
        assert.equal("byte", order[1], script)
        local bytes = 0
        for _, x in ipairs(order) do if x == "byte" then bytes = bytes + 1 end end
        assert.equal(1, bytes, script)
        assert.equal(script == "tool" and 1 or 11, #order, script) -- the tool's arguments are no text
        assert.equal(script == "tool" and "" or TEXT, out.text)
      end
    end)

    it("assembles a tool call whose arguments arrive in 5 fragments into a decoded table", function()
      local out = assert(ask("tool", nil, { tools = TOOLS }))
      assert.equal("", out.text)
      assert.equal("tool_calls", out.finish_reason)
      assert.equal(1, #out.tool_calls)
      local call = out.tool_calls[1]
      assert.equal("record_status", call.name)
      assert.matches("^call_standin%d+$", call.id)
      assert.same({ status = "approved", reference_number = "REF-12345", notes = "Line one\nLine \"two\" \195\169" },
        call.arguments)
      -- the stand-in really split them: the first tool delta has empty arguments, then 5 more
      local got = s:requests()
      assert.equal(1, #got)
      assert.equal("tool", got[1].script)
    end)

    it("keeps parallel tool calls apart by their index while their fragments interleave", function()
      local out = assert(ask("two_tools", nil, { tools = TOOLS }))
      assert.equal(2, #out.tool_calls)
      assert.equal("record_status", out.tool_calls[1].name)
      assert.same({ status = "pending" }, out.tool_calls[1].arguments)
      assert.equal("call_back_later", out.tool_calls[2].name)
      assert.same({ minutes = 15, reason = "hold" }, out.tool_calls[2].arguments)
      assert.are_not.equal(out.tool_calls[1].id, out.tool_calls[2].id)
    end)

    it("returns text and a tool call given in one answer", function()
      local out = assert(ask("text_then_tool", nil, { tools = TOOLS }))
      assert.equal("Let me note that.", out.text)
      assert.equal(1, #out.tool_calls)
      assert.equal("approved", out.tool_calls[1].arguments.status)
    end)

    it("gives a function called with an empty arguments string an empty table", function()
      local out = assert(ask("empty_args", nil, { tools = TOOLS }))
      assert.same({}, out.tool_calls[1].arguments)
    end)

    it("reports finish_reason length when the model was cut off", function()
      local out = assert(ask("length"))
      assert.equal("length", out.finish_reason)
      assert.equal("This answer was cut", out.text)
    end)
  end)

  describe("the wire format it reads", function()
    it("parses a stream dripped one byte per chunk", function()
      local pieces = {}
      local out = assert(ask("drip", nil, { on_text = function(d) pieces[#pieces + 1] = d end }))
      assert.equal(TEXT, out.text)
      assert.equal(TEXT, table.concat(pieces))
    end)

    it("parses a stream cut into random pieces (inside 'data:', inside JSON, inside UTF-8)", function()
      assert.equal(TEXT, assert(ask("split")).text)
    end)

    it("parses CRLF line ends and skips ': keep-alive' comment lines", function()
      assert.equal(TEXT, assert(ask("crlf")).text)
    end)

    it("accepts a stream that ends after finish_reason without data: [DONE]", function()
      assert.equal(TEXT, assert(ask("no_done")).text)
    end)

    it("reads a whole body from a transport that does not stream", function()
      local c = client({ transport = function(req)
        local res, err = core.http.request(req)
        if not res then return nil, err end
        return { status = res.status, body = res.body, headers = res.headers }
      end })
      local out = assert(c:respond({ messages = user("[script:tool]"), tools = TOOLS }))
      assert.equal("approved", out.tool_calls[1].arguments.status)
    end)
  end)

  describe("the requests it sends", function()
    it("posts model, messages, stream: true, usage, temperature and max_tokens with Bearer auth", function()
      assert(ask("text", { temperature = 0.3, max_tokens = 200 }))
      local got = s:requests()
      assert.equal(1, #got)
      local r = got[1]
      assert.equal("POST", r.method)
      assert.equal("/v1/chat/completions", r.path)
      assert.equal("Bearer " .. s.api_key, r.headers.authorization)
      assert.equal("application/json", r.headers["content-type"])
      assert.equal("gpt-standin", r.body.model)
      assert.is_true(r.body.stream)
      assert.same({ include_usage = true }, r.body.stream_options)
      assert.equal(0.3, r.body.temperature)
      assert.equal(200, r.body.max_tokens)
      assert.same({ { role = "user", content = "Hi there [script:text]" } }, r.body.messages)
      assert.is_nil(r.body.tools)
    end)

    it("sends tools in OpenAI's {type: function, function: {...}} shape, empty arrays as []", function()
      assert(ask("tool", nil, { tools = TOOLS, tool_choice = "auto" }))
      local r = s:requests()[1]
      assert.equal(2, #r.body.tools)
      local t = r.body.tools[1]
      assert.equal("function", t.type)
      assert.equal("record_status", t["function"].name)
      assert.equal(TOOLS[1].description, t["function"].description)
      assert.same({ "approved", "denied", "pending" }, t["function"].parameters.properties.status.enum)
      assert.same({ "status" }, t["function"].parameters.required)
      assert.equal("auto", r.body.tool_choice)
      -- the empty properties stay an object and the empty required list an array
      assert.truthy(r.raw:find('"properties":{},"required":[],"type":"object"', 1, true), r.raw)
    end)

    it("sends the same tools the same way every turn, and a tool renamed or redescribed as it is now", function()
      local c = client()
      local params = { type = "object", properties = { code = { type = "string" } }, required = { "code" } }
      local function sent(name, description)
        local body = cjson.decode(c:body({ messages = user("x"), tools = { { name = name, description = description, parameters = params } } }))
        return body.tools[1]["function"]
      end
      local first = sent("record_code", "Record the code.")
      assert.same({ name = "record_code", description = "Record the code.", parameters = params }, first)
      assert.same(first, sent("record_code", "Record the code."))
      assert.equal("record_cpt", sent("record_cpt", "Record the code.").name)
      assert.equal("Record the CPT code.", sent("record_cpt", "Record the CPT code.").description)
      assert.is_nil(sent("record_cpt", nil).description)
    end)

    it("sends a history message as it is now, also when an earlier request sent it otherwise", function()
      local c = client()
      local said = { role = "assistant", content = "Your reference number is A B C one two three." }
      local history = { { role = "user", content = "Hi" }, said }
      local function sent() return cjson.decode(c:body({ messages = history })).messages end
      assert.same({ { role = "user", content = "Hi" }, { role = "assistant", content = said.content } }, sent())
      said.content = "Your reference number is" -- cut short by the other party
      assert.equal("Your reference number is", sent()[2].content)
      said.role = "user"
      assert.equal("user", sent()[2].role)
      said.role, said.content = "tool", "ok"
      assert.has_error(function() sent() end) -- a tool result needs its tool_call_id
    end)

    it("sends a named tool_choice as {type: function, function: {name}}", function()
      assert(ask("tool", nil, { tools = TOOLS, tool_choice = { name = "record_status" } }))
      assert.same({ type = "function", ["function"] = { name = "record_status" } }, s:requests()[1].body.tool_choice)
    end)

    it("sends a conversation with tool calls and tool results in OpenAI's message shapes", function()
      local out = assert(ask("tool", nil, { tools = TOOLS }))
      local call = out.tool_calls[1]
      s:reset()
      assert(client():respond({
        tools = TOOLS,
        messages = {
          { role = "system", content = "You call insurers." },
          { role = "user", content = "It is approved, reference REF-12345." },
          { role = "assistant", tool_calls = { call } },
          { role = "tool", tool_call_id = call.id, content = { ok = true } },
          { role = "assistant", content = "Thank you." },
          { role = "user", content = "Bye [script:text]" },
        },
      }))
      local m = s:requests()[1].body.messages
      assert.equal(6, #m)
      assert.same({ role = "system", content = "You call insurers." }, m[1])
      assert.equal("assistant", m[3].role)
      assert.equal(cjson.null, m[3].content)
      assert.equal(call.id, m[3].tool_calls[1].id)
      assert.equal("function", m[3].tool_calls[1].type)
      assert.equal("record_status", m[3].tool_calls[1]["function"].name)
      assert.same(call.arguments, cjson.decode(m[3].tool_calls[1]["function"].arguments))
      assert.same({ role = "tool", tool_call_id = call.id, content = '{"ok":true}' }, m[4])
      assert.same({ role = "assistant", content = "Thank you." }, m[5])
    end)

    it("omits stream_options for servers that refuse it (include_usage = false)", function()
      assert(ask("text", { include_usage = false }))
      assert.is_nil(s:requests()[1].body.stream_options)
    end)

    it("sends no Authorization header to a server configured without a key", function()
      local c = openai.new({ base_url = s.base_url .. "/", model = "local", log = function() end })
      local out, err = c:respond({ messages = user("hi") })
      assert.is_nil(out)
      assert.matches("^openai: HTTP 401", err)
      assert.is_nil(s:requests()[1].headers.authorization)
      assert.equal("/v1/chat/completions", s:requests()[1].path) -- the trailing slash was dropped
    end)
  end)

  describe("failures", function()
    it("retries a 429 and succeeds, logging the retry by status and code only", function()
      local out, err = ask("429_then_text")
      assert.is_nil(err)
      assert.equal(TEXT, out.text)
      assert.equal(2, #s:requests())
      assert.equal(1, #logs)
      assert.equal("llm.retry", logs[1].event)
      assert.equal("openai", logs[1].fields.provider)
      assert.equal("HTTP 429 (rate_limit_exceeded)", logs[1].fields.reason)
    end)

    it("retries a 500 twice (retries = 2), then returns the server's message", function()
      local out, err = ask("500")
      assert.is_nil(out)
      assert.equal("openai: HTTP 500 (server_error): The server had an error while processing your request. "
        .. "Sorry about that! (after 3 attempts)", err)
      assert.equal(3, #s:requests())
    end)

    it("recovers from one 500", function()
      assert.equal(TEXT, assert(ask("500_then_text")).text)
      assert.equal(2, #s:requests())
    end)

    it("makes one attempt only with retries = 0", function()
      local out, err = ask("500", { retries = 0 })
      assert.is_nil(out)
      assert.matches("^openai: HTTP 500", err)
      assert.is_nil(err:find("after", 1, true))
      assert.equal(1, #s:requests())
    end)

    it("does not retry a 400 and reports its code and message", function()
      local out, err = ask("400")
      assert.is_nil(out)
      assert.equal("openai: HTTP 400 (invalid_value): Invalid value for 'temperature': expected a number.", err)
      assert.equal(1, #s:requests())
    end)

    it("does not retry a wrong API key (401 invalid_api_key)", function()
      local out, err = ask("text", { api_key = "sk-wrong-key-000000000000" })
      assert.is_nil(out)
      assert.matches("^openai: HTTP 401 %(invalid_api_key%): Incorrect API key provided", err)
      assert.equal(1, #s:requests())
    end)

    it("never repeats the API key, even when a server echoes it", function()
      local secret = "sk-this-is-secret-0123456789abcdef"
      local c = client({ api_key = secret, headers = { ["X-Standin-Script"] = "leaky_401" } })
      local out, err = c:respond({ messages = user("hi") })
      assert.is_nil(out)
      assert.is_nil(err:find(secret, 1, true), err)
      assert.matches("%[redacted%]", err)
      assert.is_nil(tostring(c):find(secret, 1, true))
      assert.is_nil(json.encode({ client = c.base_url, model = c.model }):find(secret, 1, true))
      for k, v in pairs(c) do
        assert.is_false(type(v) == "string" and v:find(secret, 1, true) ~= nil, "field " .. tostring(k))
      end
    end)

    it("logs no message contents and no key while retrying", function()
      local secret_text = "Patient Jane Doe, DOB 1980-01-02 [script:500]"
      local out = ask("500", nil, { messages = user(secret_text) })
      assert.is_nil(out)
      assert.equal(2, #logs)
      for _, l in ipairs(logs) do
        local line = json.encode(l)
        assert.is_nil(line:find("Jane", 1, true), line)
        assert.is_nil(line:find(s.api_key, 1, true), line)
      end
    end)

    it("returns malformed tool arguments as an error, not a crash, and does not retry", function()
      local out, err = ask("malformed_args", nil, { tools = TOOLS })
      assert.is_nil(out)
      assert.matches("^openai: malformed tool arguments for 'record_status': not JSON", err)
      assert.equal(1, #s:requests())
    end)

    it("retries a server that never answers (idle timeout) and succeeds on the next attempt", function()
      local t0 = sys.monotonic()
      local out, err = ask("hang_then_text", { idle_timeout_ms = 300 })
      assert.is_nil(err)
      assert.equal(TEXT, out.text)
      assert.equal(2, #s:requests())
      assert.is_true(sys.monotonic() - t0 < 3)
    end)

    it("gives up on a hung server after its retries with a timeout error", function()
      local t0 = sys.monotonic()
      local out, err = ask("hang", { idle_timeout_ms = 200, retries = 1 })
      local elapsed = sys.monotonic() - t0
      assert.is_nil(out)
      assert.equal("openai: timeout: idle timeout: no data for 200 ms (after 2 attempts)", err)
      assert.equal(2, #s:requests())
      assert.is_true(elapsed >= 0.39 and elapsed < 3, "took " .. elapsed .. " s")
    end)

    it("bounds an attempt by timeout_ms even while bytes keep coming", function()
      local out, err = ask("slow_drip", { timeout_ms = 300, retries = 0 })
      assert.is_nil(out)
      assert.matches("^openai: timeout: ", err)
    end)

    it("does not retry once text has been handed to on_text (it would be said twice)", function()
      local pieces = {}
      local out, err = ask("hang_mid", { idle_timeout_ms = 300 }, { on_text = function(d) pieces[#pieces + 1] = d end })
      assert.is_nil(out)
      assert.matches("^openai: timeout", err)
      assert.equal(1, #s:requests())
      assert.equal(2, #pieces)
    end)

    it("retries a stream cut off mid-answer when nothing was emitted yet", function()
      local out, err = ask("cut")
      assert.is_nil(out)
      assert.matches("^openai: request failed: .*%(after 3 attempts%)$", err)
      assert.equal(3, #s:requests())
    end)

    it("reports an error event inside the stream", function()
      local out, err = ask("midstream_error", { retries = 0 })
      assert.is_nil(out)
      assert.equal("openai: server error in stream (model_error): The model produced invalid content.", err)
    end)

    it("reports an HTML error page by status, and retries a 503", function()
      local out, err = ask("503_html", { retries = 1 })
      assert.is_nil(out)
      assert.matches("^openai: HTTP 503: <html>", err)
      assert.equal(2, #s:requests())
    end)

    it("reports a refused connection", function()
      local port = assert(testkit.free_port())
      local c = client({ base_url = "http://127.0.0.1:" .. port .. "/v1", retries = 1 })
      local out, err = c:respond({ messages = user("hi") })
      assert.is_nil(out)
      assert.matches("^openai: request failed: .*onnect", err)
    end)

    it("returns an error raised by on_text without retrying", function()
      local out, err = ask("text", nil, { on_text = function() error("speaker broke", 0) end })
      assert.is_nil(out)
      assert.equal("openai: on_text failed: speaker broke", err)
      assert.equal(1, #s:requests())
    end)

    it("waits between retries with a yielding sleep when given one", function()
      local slept = {}
      local out = assert(ask("429_then_text", { backoff_ms = 100, sleep = function(sec) slept[#slept + 1] = sec end }))
      assert.equal(TEXT, out.text)
      assert.equal(1, #slept)
      assert.is_true(slept[1] >= 0.075 and slept[1] <= 0.125, tostring(slept[1]))
    end)
  end)

  describe("misuse raises", function()
    local function raises(fn, pattern)
      local ok, err = pcall(fn)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end

    it("refuses bad options", function()
      raises(function() openai.new() end, "options table")
      raises(function() openai.new({}) end, "model must be")
      raises(function() openai.new({ model = "m", base_url = "ftp://x" }) end, "base_url")
      raises(function() openai.new({ model = "m", api_key = "" }) end, "api_key")
      raises(function() openai.new({ model = "m", api_key = "sk-a\r\nX-Evil: 1" }) end, "api_key")
      raises(function() openai.new({ model = "m", temperature = 3 }) end, "temperature")
      raises(function() openai.new({ model = "m", retries = 1.5 }) end, "retries")
      raises(function() openai.new({ model = "m", log = "x" }) end, "log must be a function")
    end)

    it("refuses bad requests", function()
      local c = openai.new({ model = "m", base_url = s.base_url })
      raises(function() c:respond() end, "request table")
      raises(function() c:respond({ messages = {} }) end, "messages must be a non%-empty array")
      raises(function() c:respond({ messages = { { role = "robot", content = "x" } } }) end, "role must be")
      raises(function() c:respond({ messages = { { role = "user", content = 5 } } }) end, "content must be a string")
      raises(function() c:respond({ messages = { { role = "tool", content = "x" } } }) end, "tool_call_id")
      raises(function() c:respond({ messages = user("x"), tools = { { name = "bad name!" } } }) end, "name must be")
      raises(function() c:respond({ messages = user("x"), on_text = 1 }) end, "on_text must be a function")
      raises(function() c:respond({ messages = user("x"), tool_choice = "sometimes" }) end, "tool_choice")
      assert.equal(0, #s:requests())
    end)
  end)
end)

describe("openai stream parser #llm", function()
  -- A recorded stream: text, a tool call in pieces, usage, [DONE].
  local function chunk(delta, finish)
    return "data: " .. cjson.encode({ id = "chatcmpl-1", object = "chat.completion.chunk", created = 1, model = "m",
      choices = { { index = 0, delta = delta, finish_reason = finish or cjson.null } } }) .. "\n\n"
  end
  local STREAM = table.concat({
    chunk({ role = "assistant", content = "Olá, " }),
    chunk({ content = "ça va? \226\130\172" }),
    chunk({ tool_calls = { { index = 0, id = "call_1", type = "function", ["function"] = { name = "note", arguments = "" } } } }),
    chunk({ tool_calls = { { index = 0, ["function"] = { arguments = '{"a": [1, ' } } } }),
    chunk({ tool_calls = { { index = 0, ["function"] = { arguments = '2], "b": "x"}' } } } }),
    chunk({}, "tool_calls"),
    'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n',
    "data: [DONE]\n\n",
  })

  local function parse(pieces)
    local p = openai.new_stream_parser()
    for _, piece in ipairs(pieces) do
      if not p:feed(piece) then break end
    end
    if not p:finish() then return nil, p.failure end
    return p:result()
  end

  local EXPECTED = {
    text = "Olá, ça va? \226\130\172",
    tool_calls = { { id = "call_1", name = "note", arguments = { a = { 1, 2 }, b = "x" } } },
    usage = { prompt_tokens = 3, completion_tokens = 4, total_tokens = 7 },
    finish_reason = "tool_calls",
  }

  it("gives the same answer wherever the stream is cut in two", function()
    for cut = 0, #STREAM do
      local out, f = parse({ STREAM:sub(1, cut), STREAM:sub(cut + 1) })
      assert(out, "cut at " .. cut .. ": " .. tostring(f and f.message))
      assert.same(EXPECTED, out)
    end
  end)

  it("gives the same answer fed one byte at a time", function()
    local bytes = {}
    for i = 1, #STREAM do bytes[i] = STREAM:sub(i, i) end
    assert.same(EXPECTED, (parse(bytes)))
  end)

  it("joins multi-line data, ignores event/id/retry fields and comments, accepts 'data:' without a space", function()
    local out = assert(parse({
      ": hello\n", "event: message\nid: 7\nretry: 100\n",
      'data:{"choices":[{"index":0,\ndata: "delta":{"content":"hi"}}]}\n\n',
      'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
    }))
    assert.equal("hi", out.text)
    assert.equal("stop", out.finish_reason)
  end)

  it("dispatches a last event left without its blank line", function()
    local out = assert(parse({ 'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}' }))
    assert.equal("x", out.text)
  end)

  it("reads tool calls from servers that omit the index (one whole call per chunk)", function()
    local out = assert(parse({
      'data: {"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\\"x\\":1}"}}]}}]}\n\n',
      'data: {"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}\n\n',
      'data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}\n\n',
    }))
    assert.equal(2, #out.tool_calls)
    assert.same({ id = "a", name = "f", arguments = { x = 1 } }, out.tool_calls[1])
    assert.same({ id = "b", name = "g", arguments = {} }, out.tool_calls[2])
  end)

  it("fails, without retry, on an event that is not JSON", function()
    local out, f = parse({ "data: {not json\n\n" })
    assert.is_nil(out)
    assert.matches("^openai: malformed stream event", f.message)
    assert.is_false(f.retryable)
  end)

  it("fails, retryably, on a stream that ends before finish_reason or [DONE]", function()
    local out, f = parse({ chunk({ content = "half" }) })
    assert.is_nil(out)
    assert.equal("openai: the stream ended before the answer was complete", f.message)
    assert.is_true(f.retryable)
  end)

  it("refuses an event larger than MAX_EVENT_BYTES", function()
    local saved = openai.MAX_EVENT_BYTES
    openai.MAX_EVENT_BYTES = 1000
    local out, f = parse({ "data: " .. string.rep("x", 600), string.rep("y", 600) })
    openai.MAX_EVENT_BYTES = saved
    assert.is_nil(out)
    assert.matches("over 1000 bytes", f.message)
  end)

  it("reads \\u escapes (a surrogate pair too) as UTF-8, a key written with escapes, the last of a repeated key", function()
    local out = assert(parse({
      'data: {"choices":[{"index":0,"delta":{"content":"caf\\u00e9 \\ud83d\\ude00 \\"q\\"\\n"}}]}\n\n',
      'data: {"choices":[{"index":0,"delta":{"cont\\u0065nt":"!","content":"?"}}],"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\n',
    }))
    assert.equal('caf\195\169 \240\159\152\128 "q"\nx', out.text)
  end)

  it("fails on an event that is JSON but not an object, and reads nothing from an array", function()
    local out, f = parse({ 'data: "hello"\n\n' })
    assert.is_nil(out)
    assert.equal("openai: malformed stream event (not an object)", f.message)
    assert.is_false(f.retryable)
    out = assert(parse({ 'data: [{"choices":[{"delta":{"content":"no"}}]}]\n\n',
      'data: {"choices":[{"delta":{"content":"yes"},"finish_reason":"stop"}]}\n\n' }))
    assert.equal("yes", out.text)
  end)

  it("fails, without retry, on a stream cut inside an event's JSON", function()
    local whole = chunk({ tool_calls = { { index = 0, id = "call_1", ["function"] = { name = "note", arguments = '{"a": 1}' } } } })
    local out, f = parse({ chunk({ content = "Hi" }), whole:sub(1, 60) })
    assert.is_nil(out)
    assert.matches("^openai: malformed stream event", f.message)
    assert.is_false(f.retryable)
  end)

  it("refuses an event whose data lines together pass MAX_EVENT_BYTES", function()
    local saved = openai.MAX_EVENT_BYTES
    openai.MAX_EVENT_BYTES = 1000
    local lines = {}
    for i = 1, 30 do lines[i] = "data: " .. string.rep("z", 50) .. "\n" end
    local out, f = parse(lines)
    openai.MAX_EVENT_BYTES = saved
    assert.is_nil(out)
    assert.matches("over 1000 bytes", f.message)
  end)

  it("returns tool arguments that are JSON but not an object as an error", function()
    local p = openai.new_stream_parser()
    p:feed('data: {"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"[1,2]"}}]},"finish_reason":"tool_calls"}]}\n\n')
    assert.is_true(p:finish())
    local out, err = p:result()
    assert.is_nil(out)
    assert.equal("openai: malformed tool arguments for 'f': not a JSON object", err)
  end)
end)

-- The OpenAI path of a multi-fact line: the real prior_auth flow in its sandbox, the engine and
-- this adapter against the stand-in, which (script "facts") calls every offered tool the line
-- answers. In the verify step only report_status is offered; the engine then offers the same line
-- to the reference step (a carry, with that step's tools only) and the reference is taken there.
describe("a line with several facts, through the engine #llm", function()
  local S = require("flows.support")
  local engine = require("sova.call.engine")
  local s

  lazy_setup(function() s = standin.start() end)
  lazy_teardown(function()
    if s then s:stop() end
    proc.cleanup()
  end)

  it("records the status and the reference from one line, and does not ask for the reference", function()
    local llm = openai.new { base_url = s.base_url, api_key = s.api_key, model = "gpt-standin",
                             backoff_ms = 1, timeout_ms = 10000, idle_timeout_ms = 3000 }
    local call = engine.new {
      host = S.host("clients/demo_clinic_alpha/prior_auth"), llm = llm,
      patient = S.patient("demo_clinic_alpha", "prior_auth"), fields = S.fields("demo_clinic_alpha", "prior_auth"),
      clock = S.clock(),
    }
    call:start()
    s:reset()
    call:user_says("[script:facts] The authorization has been approved. The reference number is AUTH123456.")
    assert.same({ prior_auth_status = "Approved", reference_number = "AUTH123456" }, call.outcome)
    assert.equal("confirm_reference", call.node)
    local said = S.said(call)
    assert.matches("Let me read that back: A U T H 1 2 3 4 5 6", said, 1, true)
    assert.is_nil(said:find("Could I please have a reference number", 1, true), said)
    -- the second request was the carry: the reference step's own tools, no global ones
    local reqs = s:requests()
    assert.is_true(#reqs >= 2)
    local names = {}
    for _, t in ipairs(reqs[2].body.tools) do names[#names + 1] = t["function"].name end
    assert.same({ "record_reference" }, names)
  end)
end)
