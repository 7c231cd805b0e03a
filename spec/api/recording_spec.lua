-- Call recordings: stored sealed in the database through core.recording, served by
-- GET /api/sessions/{id}/recording to the clinic's staff in byte ranges, one PHI audit record per
-- answer; no plaintext in the stored chunks; a tampered chunk answers an error, never garbage.
local helpers = require("helpers")
local ALPHA, BETA = helpers.ALPHA, helpers.BETA
local core = helpers.core
local bson = core.bson
local recording = require("sova.recording")

local MiB = 1024 * 1024
local MARKER = "SOVA-PLAINTEXT-MARKER" -- a byte pattern of the WAV that must never be stored

-- A two-channel 16-bit 16 kHz WAV of about 2.6 MiB (three sealed segments): a tone-like pattern,
-- with MARKER written into the data every 64 KiB.
local function make_wav()
  local frames = math.floor(2.6 * MiB / 4)
  local parts = {}
  for i = 0, frames - 1, 256 do
    local block = {}
    for j = 0, 255 do
      local v = ((i + j) * 37) % 65536
      local w = ((i + j) * 91 + 7) % 65536
      block[#block + 1] = string.char(v % 256, math.floor(v / 256), w % 256, math.floor(w / 256))
    end
    parts[#parts + 1] = table.concat(block)
  end
  local data = table.concat(parts)
  local out, at = {}, 1
  while at <= #data do
    out[#out + 1] = data:sub(at, at + 65535 - #MARKER) .. MARKER
    at = at + 65536 - #MARKER
  end
  data = table.concat(out):sub(1, #data)
  local function le(n, bytes)
    local s = {}
    for _ = 1, bytes do s[#s + 1] = string.char(n % 256); n = math.floor(n / 256) end
    return table.concat(s)
  end
  local header = "RIFF" .. le(36 + #data, 4) .. "WAVEfmt " .. le(16, 4) .. le(1, 2) .. le(2, 2)
    .. le(16000, 4) .. le(16000 * 4, 4) .. le(4, 2) .. le(16, 2) .. "data" .. le(#data, 4)
  return header .. data
end

describe("recordings #api #recording", function()
  local db, api, f, wav, session_id, bare_session_id, org_id, path

  local function get(who, extra)
    return f:req(who, "GET", path, nil, extra)
  end

  local function ranged(range) return get(ALPHA, { headers = { Range = range } }) end

  local function audits() return helpers.count(db, "audit_logs", { resource_type = "recording" }) end

  lazy_setup(function()
    db, api = helpers.setup()
    f = helpers.factory(db, api)
    local patient = f:patient(ALPHA, "prior_auth")
    session_id = f:session(ALPHA, patient, {
      mode = "browser", started_at = bson.date(1700000000000),
      transcript = { messages = bson.array({
        { role = "assistant", content = "Hello", timestamp = "2023-11-14T22:13:21Z" },
        { role = "user", content = "Hi", timestamp = "2023-11-14T22:13:25Z" },
      }), summary = "recorded" },
    })
    bare_session_id = f:session(ALPHA, patient)
    org_id = helpers.org_doc(db, ALPHA)._id
    path = "/api/sessions/" .. session_id .. "/recording"
    wav = make_wav()
    assert(core.recording.set_key(helpers.DATA_KEY))
    local info = assert(recording.store(db:handle(), org_id, helpers.oid(session_id), wav))
    assert.equal(#wav, info.bytes)
    assert.equal(core.crypto.sha256_hex(wav), info.sha256)
  end)

  lazy_teardown(helpers.stop_all)

  it("the session carries the recording's summary", function()
    local res = f:req(ALPHA, "GET", "/api/sessions/" .. session_id)
    assert.status(200, res)
    assert.same({ bytes = #wav, duration_seconds = math.floor((#wav - 44) / 64000 * 100 + 0.5) / 100,
      content_type = "audio/wav" }, res.json.recording)
  end)

  it("a second store for the same session is refused and changes nothing", function()
    local again, err, kind = recording.store(db:handle(), org_id, helpers.oid(session_id), "RIFF....WAVE")
    assert.is_nil(again)
    assert.truthy(err)
    local info, _, kind2 = core.recording.store(db:handle(), org_id, helpers.oid(session_id), wav)
    assert.is_nil(info)
    assert.equal("exists", kind2)
    assert.is_not_nil(kind)
  end)

  it("staff get the whole recording with 200, private and not cached", function()
    local before = audits()
    local res = get(ALPHA)
    assert.status(200, res)
    assert.equal(#wav, #res.body)
    assert.is_true(res.body == wav)
    assert.equal("audio/wav", res.headers["content-type"])
    assert.equal("bytes", res.headers["accept-ranges"])
    assert.equal("private, no-store", res.headers["cache-control"])
    assert.equal(1, audits() - before)
  end)

  it("byte ranges answer 206 with the right bytes, across segment edges", function()
    local size = #wav
    local cases = {
      { "bytes=0-43", 0, 43 },
      { "bytes=1048570-1048590", 1048570, 1048590 },     -- across the first segment edge
      { "bytes=1048576-1048576", 1048576, 1048576 },
      { "bytes=100-", 100, 100 + MiB - 1 },              -- open-ended: 1 MiB at most
      { "bytes=" .. (size - 10) .. "-", size - 10, size - 1 },
      { "bytes=-500", size - 500, size - 1 },            -- the last 500 bytes
      { "bytes=2000000-99999999", 2000000, size - 1 },   -- clamped at the end
      { "bytes=5-9, 20-30", 5, 9 },                      -- the first range of a list
    }
    for _, c in ipairs(cases) do
      local before = audits()
      local res = ranged(c[1])
      assert.status(206, res)
      assert.equal(("bytes %d-%d/%d"):format(c[2], c[3], size), res.headers["content-range"], c[1])
      assert.is_true(res.body == wav:sub(c[2] + 1, c[3] + 1), c[1] .. ": bytes differ")
      assert.equal("audio/wav", res.headers["content-type"])
      assert.equal(1, audits() - before, c[1])
    end
  end)

  it("an unsatisfiable range answers 416 with the size, audited", function()
    for _, r in ipairs({ "bytes=" .. #wav .. "-", "bytes=99999999-100000000", "bytes=-0" }) do
      local before = audits()
      local res = ranged(r)
      assert.status(416, res)
      assert.equal("bytes */" .. #wav, res.headers["content-range"])
      assert.equal("range_not_satisfiable", res.json.error.code)
      assert.equal(1, audits() - before)
    end
  end)

  it("a malformed Range is ignored: the whole file", function()
    local res = ranged("pages=1-2")
    assert.status(200, res)
    assert.equal(#wav, #res.body)
  end)

  it("writes a PHI audit record naming the recording and the range", function()
    ranged("bytes=10-19")
    local rec = assert(db:handle():find("audit_logs", { resource_type = "recording" }, { sort = { _id = -1 }, limit = 1 }))[1]
    assert.equal("phi_access", rec.event_type)
    assert.equal("view", rec.action)
    assert.equal(session_id, tostring(rec.resource_id))
    assert.equal(tostring(org_id), tostring(rec.organization_id))
    assert.equal("bytes=10-19", rec.details.range)
    assert.equal(10, rec.details.served)
    assert.is_true(rec.success)
  end)

  it("another clinic's staff get 404, and no audit record is written in either clinic", function()
    local before = audits()
    local res = get(BETA)
    assert.status(404, res)
    assert.is_nil(res.headers["content-range"])
    assert.equal(before, audits())
    -- the C lookup itself: Beta's organization finds nothing for Alpha's session
    local beta_org = helpers.org_doc(db, BETA)._id
    assert.is_false(core.recording.info(db:handle(), beta_org, helpers.oid(session_id)))
    assert.has_error(function() core.recording.info(core.db.scoped(beta_org), org_id, helpers.oid(session_id)) end)
  end)

  it("a session without a recording, or no session, answers 404", function()
    assert.status(404, f:req(ALPHA, "GET", "/api/sessions/" .. bare_session_id .. "/recording"))
    assert.status(404, f:req(ALPHA, "GET", "/api/sessions/" .. helpers.new_id() .. "/recording"))
    assert.status(404, f:req(ALPHA, "GET", "/api/sessions/nope/recording"))
    assert.status(404, f:req(ALPHA, "POST", "/api/sessions/" .. bare_session_id .. "/recording/link"))
  end)

  it("needs a sign-in", function()
    assert.status(401, helpers.http(api, "GET", path, { host = ALPHA.host }))
    assert.status(401, helpers.http(api, "GET", path .. "?token=garbage", { host = ALPHA.host }))
  end)

  describe("links for the audio element", function()
    it("a link plays the recording without a header, audited; it is no bearer token", function()
      local before = audits()
      local res = f:req(ALPHA, "POST", path .. "/link")
      assert.status(200, res)
      assert.equal(900, res.json.expires_in)
      assert.equal(1, audits() - before)
      local url = res.json.url
      assert.truthy(url:find(path .. "?token=", 1, true))
      local play = helpers.http(api, "GET", url, { host = ALPHA.host, headers = { Range = "bytes=0-99" } })
      assert.status(206, play)
      assert.is_true(play.body == wav:sub(1, 100))
      assert.equal(2, audits() - before)
      local token = url:match("token=(.+)$")
      assert.status(401, helpers.http(api, "GET", "/api/sessions/" .. session_id, { host = ALPHA.host, token = token }))
      -- for this recording only, and this clinic only
      assert.status(401, helpers.http(api, "GET", "/api/sessions/" .. bare_session_id .. "/recording?token=" .. token,
        { host = ALPHA.host }))
      assert.status(403, helpers.http(api, "GET", url, { host = BETA.host }))
    end)

    it("a link ends with the sign-in it came from", function()
      local token = helpers.login_as(api, ALPHA)
      local res = helpers.http(api, "POST", path .. "/link", { host = ALPHA.host, token = token })
      assert.status(200, res)
      assert.status(206, helpers.http(api, "GET", res.json.url, { host = ALPHA.host, headers = { Range = "bytes=0-0" } }))
      assert.status(204, helpers.http(api, "POST", "/api/auth/logout", { host = ALPHA.host, token = token }))
      assert.status(401, helpers.http(api, "GET", res.json.url, { host = ALPHA.host, headers = { Range = "bytes=0-0" } }))
    end)
  end)

  describe("at rest", function()
    it("the stored chunks hold no plaintext, and the files document the metadata", function()
      local h = db:handle()
      local file = assert(h:find_one("recordings.files", { _id = helpers.oid(session_id) }))
      assert.equal(tostring(org_id), tostring(file.metadata.organization_id))
      assert.equal(session_id, tostring(file.metadata.session_id))
      assert.equal("audio/wav", file.metadata.content_type)
      assert.equal(#wav, file.metadata.bytes)
      assert.equal(MiB, file.metadata.segment_size)
      assert.equal(core.crypto.sha256_hex(wav), file.metadata.sha256)
      assert.truthy(file.metadata.key_id:match("^k1:%x+$"))
      local chunks = assert(h:find("recordings.chunks", { files_id = helpers.oid(session_id) }, { sort = { n = 1 } }))
      assert.equal(3, #chunks)
      assert.truthy(wav:find(MARKER, 1, true))
      local sealed = 0
      for _, c in ipairs(chunks) do
        assert.is_string(c.data)
        sealed = sealed + #c.data
        assert.is_nil(c.data:find(MARKER, 1, true), "plaintext in chunk " .. c.n)
        assert.is_nil(c.data:find(wav:sub(45, 76), 1, true), "plaintext in chunk " .. c.n)
      end
      assert.equal(#wav + 3 * 41, sealed)
      assert.equal(sealed, file.length)
    end)

    it("a tampered chunk answers 500 recording_unreadable and no audio bytes; its neighbours still play", function()
      local h = db:handle()
      local chunk = assert(h:find_one("recordings.chunks", { files_id = helpers.oid(session_id), n = 1 }))
      local original = chunk.data
      local at = 5000
      local flipped = original:sub(1, at - 1) .. string.char((original:byte(at) + 1) % 256) .. original:sub(at + 1)
      assert(h:update("recordings.chunks", { _id = chunk._id }, { ["$set"] = { data = bson.binary(flipped) } }))
      finally(function()
        h:update("recordings.chunks", { _id = chunk._id }, { ["$set"] = { data = bson.binary(original) } })
      end)
      local before = audits()
      local res = ranged("bytes=" .. (MiB + 10) .. "-" .. (MiB + 20))
      assert.status(500, res)
      assert.equal("recording_unreadable", res.json.error.code)
      assert.truthy(res.headers["content-type"]:find("application/json", 1, true))
      assert.is_nil(res.headers["content-range"])
      assert.is_nil(res.body:find(wav:sub(MiB + 11, MiB + 21), 1, true))
      assert.equal(1, audits() - before) -- the failed access is on the record too
      local rec = assert(h:find("audit_logs", { resource_type = "recording" }, { sort = { _id = -1 }, limit = 1 }))[1]
      assert.is_false(rec.success)
      assert.equal("damaged", rec.details.error)
      assert.status(500, get(ALPHA)) -- the whole file touches it too
      local ok = ranged("bytes=0-99")
      assert.status(206, ok)
      assert.is_true(ok.body == wav:sub(1, 100))
      assert.truthy(api:log_text():find("recording.unreadable", 1, true))
      -- in-process: the same error, with its kind
      local bytes, err, kind = core.recording.read(h, org_id, helpers.oid(session_id), MiB, MiB + 1)
      assert.is_nil(bytes)
      assert.equal("damaged", kind)
      assert.truthy(err:find("segment 1", 1, true))
    end)
  end)

  describe("when the audit record cannot be written", function()
    local INDEX = "spec_block_recording_audit"

    lazy_setup(function()
      local h = db:handle()
      local last = assert(h:find_one("audit_logs", { resource_type = "recording" }))
      helpers.block_audit_writes(db, last.organization_id, INDEX)
    end)

    lazy_teardown(function() helpers.unblock_audit_writes(db, INDEX) end)

    it("serves no bytes: 503", function()
      for _, range in ipairs({ "bytes=0-99", false }) do
        local res = get(ALPHA, { headers = range and { Range = range } or nil })
        assert.status(503, res)
        assert.equal("audit_unavailable", res.json.error.code)
        assert.is_nil(res.body:find("RIFF", 1, true))
      end
      assert.status(503, f:req(ALPHA, "POST", path .. "/link"))
    end)
  end)

  it("in production the API refuses to start without SOVA_DATA_KEY", function()
    local proc = helpers.proc
    local status, out = proc.run({ proc.sova_bin(), "api" }, { timeout = 30, name = "api without a data key", env = {
      SOVA_ENV = "production", SOVA_DATA_KEY = "", SOVA_JWT_SECRET = helpers.JWT_SECRET, MONGODB_URI = db.uri,
      SOVA_HTTP_PORT = "0", SOVA_DATA_DIR = proc.temp_dir("no-key"),
    } })
    assert.is_not.equal(0, status)
    assert.truthy(out:find("SOVA_DATA_KEY is required when SOVA_ENV=production", 1, true), out)
  end)

  describe("when the database is down", function()
    it("answers 503", function()
      db:stop()
      finally(function() db:start() end)
      local res = ranged("bytes=0-99")
      assert.status(503, res)
    end)
  end)
end)
