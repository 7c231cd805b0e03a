-- Specs of core.http.stream (core/bind/http_client.c, core/http/client.c): streamed responses
-- handed to a Lua callback piece by piece, idle and total timeouts, callback errors, early stops.
-- The server is the loopback stand-in OpenAI server (spec/fixtures/llm/openai_standin.py), whose
-- scripts give streamed bodies, error statuses, stalls and byte-by-byte drips.
-- Run: busted spec/llm/http_stream_spec.lua
local core = require("sova.core")
local testkit = require("sova.testkit") -- processes and ports: test tooling, not in the binary
local cjson = require("cjson")
local standin = require("fixtures.llm.standin")
local proc = require("helpers.proc")

local http, sys = core.http, core.sys

describe("core.http.stream #llm #core", function()
  local s, url

  lazy_setup(function()
    s = standin.start()
    url = s.base_url .. "/chat/completions"
  end)

  lazy_teardown(function()
    if s then s:stop() end
    proc.cleanup()
  end)

  local function req(script, extra)
    local r = {
      method = "POST", url = url,
      headers = { Authorization = "Bearer " .. s.api_key, ["Content-Type"] = "application/json",
        ["X-Standin-Script"] = script },
      body = cjson.encode({ model = "gpt-standin", stream = true, messages = { { role = "user", content = "hi" } } }),
      timeout_ms = 10000,
    }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end

  it("hands a 2xx body to on_data piece by piece and returns status and headers without a body", function()
    local pieces = {}
    local res, err = http.stream(req("text", { on_data = function(chunk) pieces[#pieces + 1] = chunk end }))
    assert.is_nil(err)
    assert.equal(200, res.status)
    assert.matches("^text/event%-stream", res.headers["content-type"])
    assert.is_nil(res.body)
    assert.is_nil(res.stopped)
    local all = table.concat(pieces)
    assert.matches('^data: {"id":"chatcmpl%-', all)
    assert.matches("data: %[DONE%]\n\n$", all)
  end)

  it("delivers each piece as it arrives: a byte-by-byte drip comes in many pieces, intact", function()
    local pieces = {}
    local res = assert(http.stream(req("drip", { on_data = function(chunk) pieces[#pieces + 1] = chunk end })))
    assert.equal(200, res.status)
    assert.is_true(#pieces > 50, "got " .. #pieces .. " pieces")
    local whole = {}
    assert(http.stream(req("text", { on_data = function(chunk) whole[#whole + 1] = chunk end })))
    -- same events (ids and timestamps differ): same number of data lines
    local _, n1 = table.concat(pieces):gsub("\ndata: ", "")
    local _, n2 = table.concat(whole):gsub("\ndata: ", "")
    assert.equal(n2, n1)
  end)

  it("returns a non-2xx body in res.body and does not call on_data", function()
    local called = false
    local res, err = http.stream(req("429", { on_data = function() called = true end }))
    assert.is_nil(err)
    assert.equal(429, res.status)
    assert.is_false(called)
    assert.equal("rate_limit_exceeded", cjson.decode(res.body).error.code)
    assert.equal("0", res.headers["retry-after"])
  end)

  it("an error raised in on_data ends the transfer and comes back as nil, err", function()
    local calls = 0
    local res, err = http.stream(req("drip", { on_data = function()
      calls = calls + 1
      if calls == 3 then error("stop right here", 0) end
    end }))
    assert.is_nil(res)
    assert.equal("stop right here", err)
    assert.equal(3, calls)
  end)

  it("a non-string error from on_data is reported by its type", function()
    local res, err = http.stream(req("text", { on_data = function() error({ code = 1 }) end }))
    assert.is_nil(res)
    assert.equal("on_data raised a table value", err)
  end)

  it("on_data returning false stops the transfer early without an error", function()
    local calls = 0
    local t0 = sys.monotonic()
    local res, err = http.stream(req("slow_drip", { on_data = function()
      calls = calls + 1
      return false
    end }))
    assert.is_nil(err)
    assert.equal(200, res.status)
    assert.is_true(res.stopped)
    assert.equal(1, calls)
    assert.is_true(sys.monotonic() - t0 < 1, "the slow drip takes ~2 s; stopping must not wait for it")
  end)

  it("idle_timeout_ms ends a response that stalls mid-body", function()
    local got = {}
    local t0 = sys.monotonic()
    local res, err = http.stream(req("hang_mid", { idle_timeout_ms = 300,
      on_data = function(c) got[#got + 1] = c end }))
    local elapsed = sys.monotonic() - t0
    assert.is_nil(res)
    assert.equal("idle timeout: no data for 300 ms", err)
    assert.is_true(#got >= 1, "the first events arrived before the stall")
    assert.is_true(elapsed >= 0.29 and elapsed < 2, "returned after " .. elapsed .. " s")
  end)

  it("idle_timeout_ms also ends a server that never answers", function()
    local t0 = sys.monotonic()
    local res, err = http.stream(req("hang", { idle_timeout_ms = 250, on_data = function() end }))
    assert.is_nil(res)
    assert.matches("idle timeout", err)
    assert.is_true(sys.monotonic() - t0 < 2)
  end)

  it("idle_timeout_ms counts silence, not the whole exchange: a slow but steady stream completes", function()
    -- slow_drip sends an event every 150 ms for ~2 s
    local n = 0
    local res, err = http.stream(req("slow_drip", { idle_timeout_ms = 600, on_data = function() n = n + 1 end }))
    assert.is_nil(err)
    assert.equal(200, res.status)
    assert.is_true(n >= 10)
  end)

  it("timeout_ms bounds the whole exchange", function()
    local t0 = sys.monotonic()
    local res, err = http.stream(req("slow_drip", { timeout_ms = 400, on_data = function() end }))
    assert.is_nil(res)
    assert.matches("[Tt]imeout", err)
    assert.is_true(sys.monotonic() - t0 < 2)
  end)

  it("a connection closed mid-body is an error", function()
    local res, err = http.stream(req("cut", { on_data = function() end }))
    assert.is_nil(res)
    assert.is_string(err)
  end)

  it("a closed port is an error, not a raise", function()
    local port = assert(testkit.free_port())
    local res, err = http.stream({ url = "http://127.0.0.1:" .. port .. "/", on_data = function() end })
    assert.is_nil(res)
    assert.matches("onnect", err)
  end)

  it("sends method, headers and body like http.request", function()
    local body = cjson.encode({ model = "gpt-standin", stream = true, messages = { { role = "user", content = "x" } } })
    s:reset()
    assert(http.stream(req("text", { body = body, on_data = function() end })))
    local seen = s:requests()[1]
    assert.equal("POST", seen.method)
    assert.equal(body, seen.raw)
    assert.equal("Bearer " .. s.api_key, seen.headers.authorization)
    assert.is_nil(seen.headers.expect)
  end)

  it("runs nested: on_data may itself call http.request", function()
    local inner
    local res = assert(http.stream(req("text", { on_data = function()
      if not inner then inner = assert(http.request({ url = s.root .. "/_health" })) end
    end })))
    assert.equal(200, res.status)
    assert.equal("ok", inner.body)
  end)

  describe("argument checks", function()
    local function raises(r, pattern)
      local ok, err = pcall(http.stream, r)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end

    it("raises without an on_data function", function()
      raises({ url = url }, "on_data must be a function")
      raises({ url = url, on_data = "x" }, "on_data must be a function")
    end)

    it("raises on a negative idle_timeout_ms", function()
      raises({ url = url, on_data = function() end, idle_timeout_ms = -1 }, "idle_timeout_ms")
    end)

    it("applies http.request's checks: header injection, bad methods, missing url", function()
      local f = function() end
      raises({ url = url, on_data = f, headers = { ["X-A"] = "v\r\nX-B: 1" } }, "may not hold CR, LF")
      raises({ url = url, on_data = f, method = "GET /x HTTP/1.1\r\n" }, "method")
      raises({ on_data = f }, "bad argument")
      raises("http://x", "bad argument")
    end)
  end)
end)
