-- A clinic's webhook receiver for the specs: a python3 HTTP server on loopback that checks each
-- delivery's Sova-Signature itself (Python's hmac, not Sova's code: the scheme as README.md tells
-- a receiver to check it, a 5-minute tolerance included) and logs what it got.
--   POST /_secret/<path> (body: secret)  the secret to check the signatures of deliveries to /<path>
--   GET  /_log                           [{path, event, delivery, signature, body, valid, why, status, t}]
--   POST /ok/...                         200
--   POST /flaky/...                      500 to the path's first 2 requests, then 200
--   POST /down/...                       503, always
-- Usage: local r = receiver.start(); r:set_secret("/ok/a", s); r.url .. "/ok/a"; r:log(); r:stop().
local core = require("sova.core")
local cjson = require("cjson")
local testkit = require("sova.testkit")
local proc = require("helpers.proc")

local M = {}

local SCRIPT = [==[
import hashlib, hmac, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"secrets": {}, "log": [], "hits": {}}
lock = threading.Lock()

def check(secret, header, body):
    if not header:
        return False, "no signature"
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError:
        return False, "no timestamp"
    if abs(time.time() - t) > 300:
        return False, "stale"
    want = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    got = [v for k, v in (p.split("=", 1) for p in header.split(",") if "=" in p) if k == "v1"]
    if any(hmac.compare_digest(want, g) for g in got):
        return True, ""
    return False, "mismatch"

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, text):
        out = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        if self.path == "/_log":
            with lock:
                return self.answer(200, json.dumps(state["log"]))
        self.answer(404, "no")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/_secret/"):
            with lock:
                state["secrets"][self.path[len("/_secret"):]] = body
            return self.answer(200, "ok")
        with lock:
            hits = state["hits"].get(self.path, 0) + 1
            state["hits"][self.path] = hits
            kind = self.path.split("/")[1]
            if kind == "ok":
                status = 200
            elif kind == "flaky":
                status = 500 if hits <= 2 else 200
            else:
                status = 503
            secret = state["secrets"].get(self.path)
            valid, why = check(secret, self.headers.get("Sova-Signature"), body) if secret else (False, "no secret")
            state["log"].append({"path": self.path, "event": self.headers.get("Sova-Event"),
                "delivery": self.headers.get("Sova-Delivery"), "signature": self.headers.get("Sova-Signature"),
                "content_type": self.headers.get("Content-Type"), "body": body.decode("utf-8", "replace"),
                "valid": valid, "why": why, "status": status, "t": time.time()})
        self.answer(status, "thanks" if status == 200 else "not now")

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
]==]

local Receiver = {}
Receiver.__index = Receiver

function M.start()
  local script = proc.temp_path("webhook-receiver", ".py")
  local f = assert(io.open(script, "wb"))
  f:write(SCRIPT)
  f:close()
  local port = assert(testkit.free_port())
  local p = proc.spawn({ "python3", script, tostring(port) }, { log = proc.temp_path("webhook-receiver", ".log"),
    name = "webhook receiver" })
  local self = setmetatable({ proc = p, port = port, url = "http://127.0.0.1:" .. port }, Receiver)
  local deadline = core.sys.monotonic() + 15
  while true do
    local res = core.http.request { url = self.url .. "/_log", timeout_ms = 1000 }
    if res and res.status == 200 then break end
    if core.sys.monotonic() > deadline or not p:alive() then error("the webhook receiver did not start: " .. p:tail(20)) end
    core.sys.sleep(0.05)
  end
  return self
end

function Receiver:set_secret(path, secret)
  local res = assert(core.http.request { method = "POST", url = self.url .. "/_secret" .. path, body = secret })
  assert(res.status == 200, "the receiver refused the secret")
end

-- what the receiver got, in order; each entry's json is its body decoded
function Receiver:log()
  local res = assert(core.http.request { url = self.url .. "/_log" })
  local list = cjson.decode(res.body)
  for _, e in ipairs(list) do e.json = cjson.decode(e.body) end
  return list
end

function Receiver:stop() return self.proc:stop(5) end

return M
