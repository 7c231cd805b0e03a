-- Specs of the http area of sova.core (core/bind/http_client.c, core/http/client.c): outbound
-- requests through libcurl, against loopback servers started for the test:
--   * `python3 -m http.server` serving a temporary directory (static GETs);
--   * a small python3 script that echoes requests and answers /slow after a long sleep.
-- Run from the repo root: busted spec/core/http_client_spec.lua

local core = require("sova.core")
local testkit = require("sova.testkit") -- processes and ports: test tooling, not in the binary
local cjson = require("cjson")
local http, sys = core.http, core.sys

local ECHO_SERVER = [[
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self):
        if self.path == "/slow":
            time.sleep(10)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        out = json.dumps({
            "method": self.command, "path": self.path, "body": body,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }).encode()
        status = 201 if self.path == "/created" else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = reply

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
]]

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Starts argv as a process group and waits until url answers; returns the pid.
local function start_server(argv, url, log)
  local pid = assert(testkit.spawn(argv, { stdout = log, stderr = log }))
  local deadline = sys.monotonic() + 15
  while true do
    local res = http.request({ url = url, timeout_ms = 500 })
    if res then return pid end
    local exited = testkit.wait(pid, true)
    if exited then error("server exited with status " .. tostring(exited) .. " (log: " .. log .. ")") end
    if sys.monotonic() > deadline then
      testkit.kill(-pid)
      testkit.wait(pid)
      error("server did not answer at " .. url)
    end
    sys.sleep(0.05)
  end
end

local function stop_server(pid)
  if pid then
    testkit.kill(-pid)
    testkit.wait(pid)
  end
end

describe("sova.core http #core", function()
  local dir, static_pid, echo_pid, static_url, echo_url

  lazy_setup(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(sys.mkdir(dir))
    write_file(dir .. "/hello.txt", "hello, sova\n")
    write_file(dir .. "/data.bin", "\0\1\2\255 binary")
    write_file(dir .. "/echo.py", ECHO_SERVER)

    local static_port = assert(testkit.free_port())
    static_url = "http://127.0.0.1:" .. static_port
    static_pid = start_server(
      { "python3", "-m", "http.server", tostring(static_port), "--bind", "127.0.0.1", "--directory", dir },
      static_url .. "/hello.txt", dir .. "/static.log")

    local echo_port = assert(testkit.free_port())
    echo_url = "http://127.0.0.1:" .. echo_port
    echo_pid = start_server({ "python3", dir .. "/echo.py", tostring(echo_port) }, echo_url .. "/", dir .. "/echo.log")
  end)

  lazy_teardown(function()
    stop_server(static_pid)
    stop_server(echo_pid)
    if dir then os.execute("rm -rf " .. shell_quote(dir)) end
  end)

  describe("GET", function()
    it("returns status, body and lowercased response headers", function()
      local res, err = http.request({ url = static_url .. "/hello.txt" })
      assert.is_nil(err)
      assert.equal(200, res.status)
      assert.equal("hello, sova\n", res.body)
      assert.equal("12", res.headers["content-length"])
      assert.matches("^text/plain", res.headers["content-type"])
      assert.matches("^SimpleHTTP", res.headers["server"])
      assert.is_nil(res.headers["Content-Length"])
    end)

    it("returns binary bodies intact", function()
      local res = assert(http.request({ url = static_url .. "/data.bin" }))
      assert.equal(200, res.status)
      assert.equal("\0\1\2\255 binary", res.body)
    end)

    it("returns error statuses as responses, not errors", function()
      local res, err = http.request({ method = "GET", url = static_url .. "/missing.txt" })
      assert.is_nil(err)
      assert.equal(404, res.status)
      assert.is_string(res.body)
    end)

    it("sends the given request headers", function()
      local res = assert(http.request({
        url = echo_url .. "/get?q=1",
        headers = { ["X-Request-Id"] = "abc-123", Authorization = "Bearer t0k" },
      }))
      assert.equal(200, res.status)
      assert.equal("yes", res.headers["x-echo"])
      local seen = cjson.decode(res.body)
      assert.equal("GET", seen.method)
      assert.equal("/get?q=1", seen.path)
      assert.equal("abc-123", seen.headers["x-request-id"])
      assert.equal("Bearer t0k", seen.headers["authorization"])
    end)
  end)

  describe("other methods", function()
    it("sends a POST body of over 1 KiB without Expect: 100-continue", function()
      local body = cjson.encode({ text = string.rep("x", 5000) })
      local res = assert(http.request({
        method = "POST", url = echo_url .. "/created", body = body,
        headers = { ["Content-Type"] = "application/json" },
      }))
      assert.equal(201, res.status)
      local seen = cjson.decode(res.body)
      assert.equal("POST", seen.method)
      assert.equal(body, seen.body)
      assert.equal("application/json", seen.headers["content-type"])
      assert.is_nil(seen.headers["expect"])
    end)

    it("uses the given method name for PUT, PATCH and DELETE", function()
      for _, m in ipairs({ "PUT", "PATCH", "DELETE" }) do
        local res = assert(http.request({ method = m, url = echo_url .. "/x", body = "b" }))
        assert.equal(m, cjson.decode(res.body).method)
      end
    end)

    it("HEAD returns headers and an empty body", function()
      local res = assert(http.request({ method = "HEAD", url = echo_url .. "/" }))
      assert.equal(200, res.status)
      assert.equal("", res.body)
      assert.equal("yes", res.headers["x-echo"])
    end)
  end)

  describe("failures", function()
    it("a closed port returns nil, err", function()
      local port = assert(testkit.free_port())
      local res, err = http.request({ url = "http://127.0.0.1:" .. port .. "/", timeout_ms = 2000 })
      assert.is_nil(res)
      assert.is_string(err)
      assert.matches("connect", err:lower())
    end)

    it("a server slower than timeout_ms returns nil, err mentioning the timeout", function()
      local t0 = sys.monotonic()
      local res, err = http.request({ url = echo_url .. "/slow", timeout_ms = 300 })
      local elapsed = sys.monotonic() - t0
      assert.is_nil(res)
      assert.matches("timeout", err:lower())
      assert.is_true(elapsed >= 0.25, "returned after " .. elapsed .. " s")
      assert.is_true(elapsed < 5, "returned after " .. elapsed .. " s")
    end)

    it("refuses schemes other than http and https", function()
      local res, err = http.request({ url = "file://" .. dir .. "/hello.txt" })
      assert.is_nil(res)
      assert.is_string(err)
      res, err = http.request({ url = "ftp://127.0.0.1/" })
      assert.is_nil(res)
      assert.is_string(err)
    end)
  end)

  describe("argument checks", function()
    local function raises(req, pattern)
      local ok, err = pcall(http.request, req)
      assert.is_false(ok)
      assert.matches(pattern, err)
    end

    it("raises on header names or values holding CR or LF, and on ':' in names", function()
      local msg = "may not hold CR, LF or ':'"
      local url = echo_url .. "/"
      raises({ url = url, headers = { ["X-A"] = "v\r\nX-Injected: 1" } }, msg)
      raises({ url = url, headers = { ["X-A"] = "v\nX-Injected: 1" } }, msg)
      raises({ url = url, headers = { ["X-A"] = "v\r" } }, msg)
      raises({ url = url, headers = { ["X-A\r\nX-Injected"] = "1" } }, msg)
      raises({ url = url, headers = { ["X-A: b"] = "1" } }, msg)
    end)

    it("raises on a method holding CR or LF", function()
      -- l_request in core/bind/http_client.c checks header lines but hands `method` unchecked to
      -- CURLOPT_CUSTOMREQUEST, which writes it verbatim into the request line: method =
      -- "GET /evil HTTP/1.1\r\nX-Injected: yes\r\nX:" sends an injected header line.
      raises({ url = echo_url .. "/", method = "GET /evil HTTP/1.1\r\nX-Injected: yes\r\nX:" }, "method")
      raises({ url = echo_url .. "/", method = "GET\n" }, "method")
    end)

    it("raises on non-string headers, too many headers, or a missing url", function()
      raises({ url = echo_url, headers = { ["X-N"] = 1 } }, "headers must map strings to strings")
      raises({ url = echo_url, headers = { "positional" } }, "headers must map strings to strings")
      local many = {}
      for i = 1, 65 do many["X-H" .. i] = "v" end
      raises({ url = echo_url, headers = many }, "too many headers")
      raises({}, "bad argument")
      raises({ url = echo_url, body = {} }, "bad argument")
      assert.has_error(function() http.request("http://127.0.0.1/") end)
    end)

    it("accepts 64 headers", function()
      local many = {}
      for i = 1, 64 do many["X-H" .. i] = "v" .. i end
      local res = assert(http.request({ url = echo_url .. "/", headers = many }))
      local seen = cjson.decode(res.body).headers
      assert.equal("v1", seen["x-h1"])
      assert.equal("v64", seen["x-h64"])
    end)
  end)

  describe("resolve: a name pinned to the address that was checked", function()
    local port
    lazy_setup(function() port = echo_url:match(":(%d+)$") end)

    it("connects a name that does not exist to the pinned address, and sends its Host", function()
      local res = assert(http.request({ url = ("http://hooks.sova.invalid:%s/pinned"):format(port),
        resolve = { ("hooks.sova.invalid:%s:127.0.0.1"):format(port) } }))
      assert.equal(200, res.status)
      local seen = cjson.decode(res.body)
      assert.equal("/pinned", seen.path)
      assert.equal("hooks.sova.invalid:" .. port, seen.headers.host)
    end)

    it("tries each pinned address in turn", function()
      local res = assert(http.request({ url = ("http://two.sova.invalid:%s/"):format(port),
        resolve = { ("two.sova.invalid:%s:127.0.0.2,127.0.0.1"):format(port) } }))
      assert.equal(200, res.status)
    end)

    it("goes nowhere else: a pin to a closed address fails, even for a name that resolves", function()
      local res, err = http.request({ url = ("http://localhost:%s/"):format(port), timeout_ms = 3000,
        resolve = { ("localhost:%s:127.0.0.9"):format(port) } })
      -- 127.0.0.9 listens on nothing here: the request does not fall back to localhost's own address
      assert.is_nil(res)
      assert.is_string(err)
    end)

    it("raises on a resolve list that is not strings of host:port:address, or too long", function()
      local url = echo_url .. "/"
      for _, bad in ipairs({ "x", { 1 }, { "" }, { "no-colons" }, { "a:1:127.0.0.1\r\nX: y" }, { "a:1: 127.0.0.1" } }) do
        assert.has_error(function() http.request({ url = url, resolve = bad }) end)
      end
      local many = {}
      for i = 1, 9 do many[i] = ("h%d:80:127.0.0.1"):format(i) end
      assert.has_error(function() http.request({ url = url, resolve = many }) end)
    end)
  end)

  describe("lookup", function()
    it("resolves a name and a literal to numeric addresses", function()
      local addrs = assert(http.lookup("localhost"))
      assert.is_true(#addrs >= 1)
      for _, a in ipairs(addrs) do assert.truthy(a == "127.0.0.1" or a == "::1", a) end
      assert.same({ "127.0.0.1" }, http.lookup("127.0.0.1"))
      assert.same({ "::1" }, http.lookup("::1"))
    end)

    it("returns nil, err for a name that does not resolve", function()
      local none, err = http.lookup("no-such-host.sova.invalid")
      assert.is_nil(none)
      assert.matches("cannot resolve no%-such%-host%.sova%.invalid", err)
    end)

    it("raises on an empty, huge or non-string host", function()
      assert.has_error(function() http.lookup("") end)
      assert.has_error(function() http.lookup(string.rep("a", 256)) end)
      assert.has_error(function() http.lookup("a\0b") end)
      assert.has_error(function() http.lookup({}) end)
    end)
  end)
end)
