-- Specs of the writer area of sova.core (core/db/writer.c, core/bind/writer.c): durable
-- asynchronous writes for calls, against a real FerretDB that is killed and restarted.
-- Run from the repo root: busted spec/core/writer_spec.lua  (or busted -t writer)
--
-- The writer is one thread per process, so this file starts and stops it in the busted process
-- itself; a second process (`sova script spec/fixtures/writer/child.lua`) plays the crashed bot
-- that leaves a spool behind, and the replaying process whose log is inspected.
local helpers = require("helpers")
local core = helpers.core
local cjson = helpers.cjson
local proc = helpers.proc
local writer = core.writer
local sys = core.sys

local CHILD = proc.root .. "/spec/fixtures/writer/child.lua"
local MARKER = "PHI-MARKER-Jane-Roe-1970-01-01"
local HDR, REC_HDR = 24, 12

local function spool_file(dir) return dir .. "/writes.spool" end

local function le32(s, pos)
  local a, b, c, d = s:byte(pos, pos + 3)
  return a + b * 0x100 + c * 0x10000 + d * 0x1000000
end

local function u32(n)
  return string.char(n % 256, math.floor(n / 0x100) % 256, math.floor(n / 0x10000) % 256,
    math.floor(n / 0x1000000) % 256)
end

-- Offsets {start, payload_start, payload_len} of the records of a spool file's text.
local function records(text)
  local out, pos = {}, HDR + 1
  while pos + REC_HDR - 1 <= #text do
    local len = le32(text, pos + 4)
    out[#out + 1] = { start = pos, payload = pos + REC_HDR, len = len }
    pos = pos + REC_HDR + len
  end
  return out
end

local function seq(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

local function plain(arr)
  local t = {}
  for i, v in ipairs(arr or {}) do t[i] = v end
  return t
end

local function start(dir, extra)
  local opts = { spool_dir = dir, retry_ms = 100 }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local ok, err = writer.start(opts)
  assert(ok, "writer.start: " .. tostring(err))
end

local function push(op)
  local ok, err = writer.push(op)
  assert(ok, "writer.push: " .. tostring(err))
end

-- The i-th step of a call: an insert with an explicit _id and a $push that records the order.
local function push_step(coll, tag, i)
  push { collection = coll, kind = "insert", doc = { _id = tag .. "-" .. i, i = i, note = MARKER } }
  push { collection = coll, kind = "upsert", filter = { _id = tag .. "-order" },
    update = { ["$push"] = { events = i } } }
end

-- Runs the child script; returns the decoded RESULT line, the whole output and the exit status.
local function child(args, timeout)
  local argv = { proc.sova_bin(), "script", CHILD }
  for _, a in ipairs(args) do argv[#argv + 1] = tostring(a) end
  -- the sanitizer options scripts/test gives server processes (leak detection on), if any
  local env = proc.clean_env({ ASAN_OPTIONS = os.getenv("SOVA_SERVER_ASAN_OPTIONS") })
  local status, out, log = proc.run(argv, { env = env, timeout = timeout or 90, name = "writer-child" })
  local report = proc.sanitizer_report(log)
  assert(not report, "sanitizer report from the child: " .. tostring(report) .. "\n" .. out)
  local line = out:match("RESULT ([^\n]+)")
  return line and cjson.decode(line), out, status
end

describe("writer #writer", function()
  local db, h

  lazy_setup(function()
    db = helpers.start_db()
    h = db:handle()
  end)

  lazy_teardown(function()
    writer.stop(1000)
    helpers.stop_all()
  end)

  after_each(function()
    writer.stop(2000)
    if not db:alive() then db:start() end
  end)

  local function events(coll, tag)
    local doc = assert(h:find_one(coll, { _id = tag .. "-order" }))
    return plain(doc and doc.events)
  end

  describe("misuse", function()
    it("a bad operation shape raises", function()
      local bad = {
        "insert",
        { kind = "insert", doc = {} },
        { collection = "c", kind = "delete", doc = {} },
        { collection = "c", kind = "insert" },
        { collection = "c", kind = "insert", doc = {}, filter = {} },
        { collection = "c", kind = "update", filter = {} },
        { collection = "c", kind = "update", update = { ["$set"] = { a = 1 } } },
        { collection = "c", kind = "update", filter = {}, update = {} },
        { collection = "c", kind = "update", filter = {}, update = { a = 1 } },
        { collection = "c", kind = "upsert", filter = {}, update = { ["$set"] = 1 } },
        { collection = "c", kind = "upsert", filter = {}, update = { ["$set"] = {} }, doc = {} },
        { collection = "c", kind = "insert", doc = {}, colection = "typo" },
      }
      for i, op in ipairs(bad) do
        assert.has_error(function() writer.push(op) end, nil, "case " .. i)
      end
    end)

    it("bad start options raise", function()
      assert.has_error(function() writer.start("dir") end)
      assert.has_error(function() writer.start {} end)
      assert.has_error(function() writer.start { spool_dir = "x", retry_ms = 0 } end)
      assert.has_error(function() writer.start { spool_dir = "x", retry_ms = 1.5 } end)
      assert.has_error(function() writer.start { spool_dir = "x", max_queue_bytes = -1 } end)
      assert.has_error(function() writer.start { spool_dir = "x", retry = 100 } end)
      assert.has_error(function() writer.flush(-1) end)
    end)

    it("before start, push and flush answer nil, err and stop is a no-op", function()
      local ok, err = writer.push { collection = "c", kind = "insert", doc = { a = 1 } }
      assert.is_nil(ok)
      assert.equal("writer not started", err)
      ok, err = writer.flush(10)
      assert.is_nil(ok)
      assert.equal("not started", err)
      assert.is_true(writer.stop(10))
      assert.is_false(writer.stats().running)
    end)

    it("start refuses when the database pool was never opened", function()
      local r, out = child({ "no_db", proc.temp_dir("spool") })
      assert(r, out)
      assert.is_false(r.ok)
      assert.matches("database not opened", r.err)
    end)

    it("a second start answers nil, \"already started\"; so does another process on the same spool", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      local ok, err = writer.start { spool_dir = proc.temp_dir("spool") }
      assert.is_nil(ok)
      assert.equal("already started", err)
      local r, out = child({ "start_only", db.uri, dir })
      assert(r, out)
      assert.is_false(r.ok)
      assert.matches("in use by another process", r.err)
    end)
  end)

  describe("with the database up", function()
    it("applies operations in the order they were pushed", function()
      start(proc.temp_dir("spool"))
      for i = 1, 200 do
        push_step("writer_order", "o", i)
        push { collection = "writer_order", kind = "upsert", filter = { _id = "last" }, update = { ["$set"] = { n = i } } }
      end
      push { collection = "writer_order", kind = "update", filter = { _id = "o-1" }, update = { ["$set"] = { seen = true } } }
      assert.is_true(writer.flush(30000))
      assert.same(seq(200), events("writer_order", "o"))
      assert.equal(200, h:find_one("writer_order", { _id = "last" }).n)
      assert.is_true(h:find_one("writer_order", { _id = "o-1" }).seen)
      assert.equal(200, helpers.count(db, "writer_order", { i = { ["$gte"] = 1 } }))
      local s = writer.stats()
      assert.same({ 601, 0, 0, 0, true, false },
        { s.applied, s.queued, s.spooled, s.failed_permanently, s.running, s.db_down })
    end)

    it("gives an insert without _id one, and answers nil, err for a value BSON cannot hold", function()
      start(proc.temp_dir("spool"))
      push { collection = "writer_noid", kind = "insert", doc = { tag = "noid" } }
      local ok, err = writer.push { collection = "writer_noid", kind = "insert", doc = { f = print } }
      assert.is_nil(ok)
      assert.matches("^doc: ", err)
      ok, err = writer.push { collection = "writer_noid", kind = "insert", doc = { ["$bad"] = 1 } }
      assert.is_nil(ok)
      assert.matches("^document: ", err)
      ok, err = writer.push { collection = "writer_noid", kind = "insert", doc = { big = string.rep("x", 17 * 2 ^ 20) } }
      assert.is_nil(ok)
      assert.matches("too large", err)
      assert.is_true(writer.flush(10000))
      local doc = h:find_one("writer_noid", { tag = "noid" })
      assert.truthy(doc and core.bson.is_oid(doc._id))
    end)

    it("a duplicate key on a first insert fails for good, is kept in writes.rejected, and later operations apply", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      push { collection = "writer_dup", kind = "insert", doc = { _id = "d", v = 1 } }
      push { collection = "writer_dup", kind = "insert", doc = { _id = "d", v = 2 } }
      push { collection = "writer_dup", kind = "insert", doc = { _id = "after" } }
      assert.is_true(writer.flush(10000))
      local s = writer.stats()
      assert.equal(1, s.failed_permanently)
      assert.equal(2, s.applied)
      assert.matches("^duplicate_key", s.last_error)
      assert.equal(1, h:find_one("writer_dup", { _id = "d" }).v)
      assert.truthy(h:find_one("writer_dup", { _id = "after" }))
      assert.equal(1, #records(assert(proc.read_file(dir .. "/writes.rejected"))))
    end)

    it("with a tiny memory bound, pushes go to the spool and the order holds", function()
      start(proc.temp_dir("spool"), { max_queue_bytes = 400 })
      for i = 1, 300 do push_step("writer_spill", "s", i) end
      assert.is_true(writer.flush(30000))
      local s = writer.stats()
      assert.is_true(s.overflowed > 0, "no push overflowed")
      assert.equal(600, s.applied)
      assert.same(seq(300), events("writer_spill", "s"))
    end)
  end)

  describe("with the database killed", function()
    it("pushes return at once into the spool; after a restart everything arrives in order and the spool goes", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      for i = 1, 10 do push_step("writer_down", "k", i) end
      assert.is_true(writer.flush(10000))
      db:kill()

      local t0 = sys.monotonic()
      for i = 11, 310 do push_step("writer_down", "k", i) end
      local elapsed = sys.monotonic() - t0
      assert.is_true(elapsed < 0.5, "600 pushes took " .. elapsed .. " s")

      helpers.wait_until(function()
        local s = writer.stats()
        return s.queued == 0 and s.spooled == 600
      end, 20)
      local s = writer.stats()
      assert.is_true(s.db_down)
      assert.matches("^unavailable", s.last_error)
      local size = proc.file_size(spool_file(dir))
      assert.is_true(size > 600 * REC_HDR)
      local ok, err = writer.flush(200)
      assert.is_nil(ok)
      assert.equal("timeout", err)

      for i = 311, 320 do push_step("writer_down", "k", i) end
      helpers.wait_until(function() return proc.file_size(spool_file(dir)) > size end, 20)

      db:start()
      assert.is_true(writer.flush(30000))
      assert.same(seq(320), events("writer_down", "k"))
      assert.equal(320, helpers.count(db, "writer_down", { i = { ["$gte"] = 1 } }))
      assert.is_false(proc.exists(spool_file(dir)))
      s = writer.stats()
      assert.is_false(s.db_down)
      assert.equal(640, s.applied)
      assert.equal(0, s.failed_permanently)
    end)

    it("with a tiny memory bound, the operation in flight still goes before the ones that spilled", function()
      local dir = proc.temp_dir("spool")
      start(dir, { max_queue_bytes = 300 })
      push_step("writer_spill_down", "f", 1)
      assert.is_true(writer.flush(10000))
      db:kill()
      -- The pool learns the server is gone, so the writer's next operation waits out server
      -- selection (1 s) while the pushes below fill memory and spill behind it.
      assert.is_nil(h:count("writer_spill_down", {}))
      for i = 2, 100 do push_step("writer_spill_down", "f", i) end
      helpers.wait_until(function() local s = writer.stats() return s.queued == 0 and s.spooled == 198 end, 20)
      assert.is_true(writer.stats().overflowed > 0)
      db:start()
      assert.is_true(writer.flush(30000))
      assert.same(seq(100), events("writer_spill_down", "f"))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("stop keeps what is left in the spool, and the next start replays it", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      db:kill()
      for i = 1, 20 do push_step("writer_stop", "t", i) end
      local ok, err = writer.stop(300)
      assert.is_nil(ok)
      assert.equal("40 operations kept in the spool", err)
      assert.is_false(writer.stats().running)
      assert.is_true(proc.file_size(spool_file(dir)) > 0)

      db:start()
      start(dir)
      assert.is_true(writer.flush(30000))
      assert.same(seq(20), events("writer_stop", "t"))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("a spool left by a crashed process is replayed at the next start", function()
      local dir = proc.temp_dir("spool")
      db:kill()
      local r, out = child({ "crash_down", db.uri, dir, 50, "c" })
      assert(r and not r.error, out)
      assert.equal(100, r.spooled)
      assert.is_true(proc.file_size(spool_file(dir)) > 0)

      db:start()
      start(dir)
      assert.is_true(writer.flush(30000))
      assert.same(seq(50), events("writer_crash", "c"))
      assert.equal(50, helpers.count(db, "writer_crash", { _id = { ["$regex"] = "^c-[0-9]" } }))
      assert.equal(100, writer.stats().applied)
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("an insert replayed after it reached the database counts as applied", function()
      local dir = proc.temp_dir("spool")
      db:kill()
      local r, out = child({ "crash_down", db.uri, dir, 3, "r" })
      assert(r and not r.error, out)
      db:start()
      assert(h:insert("writer_crash", { _id = "r-2", i = 2 })) -- as if applied before a crash
      start(dir)
      assert.is_true(writer.flush(30000))
      local s = writer.stats()
      assert.equal(6, s.applied)
      assert.equal(0, s.failed_permanently)
      assert.same(seq(3), events("writer_crash", "r"))
    end)
  end)

  -- Replaying is at least once: a record applied just before a crash (or a power loss that
  -- takes the header's progress with it) is applied again at the next start. Its effect must
  -- not be: an inserted document or a transcript line appears once.
  describe("a spool replayed twice", function()
    local function write_file(path, text)
      local f = assert(io.open(path, "wb"))
      f:write(text)
      f:close()
    end

    it("after a crashed process's spool was applied, replaying the same file again repeats no $push", function()
      local dir = proc.temp_dir("spool")
      db:kill()
      local r, out = child({ "crash_down", db.uri, dir, 20, "twice" })
      assert(r and not r.error, out)
      local on_disk = assert(proc.read_file(spool_file(dir)))
      db:start()
      r, out = child({ "replay", db.uri, dir })
      assert(r and r.flushed, out)
      assert.equal(40, r.applied)
      assert.same(seq(20), events("writer_crash", "twice"))

      -- the disk as a power loss right after that replay leaves it: every record, no progress
      write_file(spool_file(dir), on_disk)
      r, out = child({ "replay", db.uri, dir })
      assert(r and r.flushed, out)
      assert.equal(40, r.applied)
      assert.equal(0, r.failed_permanently)
      assert.same(seq(20), events("writer_crash", "twice"))
      assert.equal(20, helpers.count(db, "writer_crash", { _id = { ["$regex"] = "^twice-[0-9]" } }))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("transcript lines pushed into an existing session while the database was down appear once each", function()
      local dir = proc.temp_dir("spool")
      assert(h:insert("writer_transcript", { _id = "s1", status = "in_progress", transcript = { messages = core.bson.array() } }))
      start(dir)
      db:kill()
      for i = 1, 12 do
        push { collection = "writer_transcript", kind = "update", filter = { _id = "s1", status = "in_progress" },
          update = { ["$push"] = { ["transcript.messages"] = { role = "user", content = "line " .. i } },
            ["$set"] = { updated = i } } }
      end
      local ok = writer.stop(300)
      assert.is_nil(ok)
      local on_disk = assert(proc.read_file(spool_file(dir)))
      db:start()
      start(dir)
      assert.is_true(writer.flush(30000))
      writer.stop(2000)
      write_file(spool_file(dir), on_disk)
      start(dir)
      assert.is_true(writer.flush(30000))
      assert.equal(12, writer.stats().applied)

      local doc = assert(h:find_one("writer_transcript", { _id = "s1" }))
      local lines = {}
      for i, m in ipairs(doc.transcript.messages) do lines[i] = m.content end
      local want = {}
      for i = 1, 12 do want[i] = "line " .. i end
      assert.same(want, lines)
      assert.equal(12, doc.updated)
      assert.equal(12, #doc._writer_ops) -- the writer's record of what it applied, one id per update
    end)

    it("a filter or update that names the writer's own field is refused", function()
      start(proc.temp_dir("spool"))
      local ok, err = writer.push { collection = "c", kind = "update", filter = { _writer_ops = 1 },
        update = { ["$set"] = { a = 1 } } }
      assert.is_nil(ok)
      assert.matches("_writer_ops is the writer's own field", err)
      ok, err = writer.push { collection = "c", kind = "update", filter = { _id = 1 },
        update = { ["$push"] = { ["_writer_ops.x"] = 1 } } }
      assert.is_nil(ok)
      assert.matches("not _writer_ops", err)
    end)
  end)

  describe("a damaged spool", function()
    it("a torn record at the end is ignored with a warning, the good ones are applied, no contents are logged", function()
      local dir = proc.temp_dir("spool")
      db:kill()
      local r, out = child({ "crash_down", db.uri, dir, 20, "torn" })
      assert(r and not r.error, out)
      -- a crash in the middle of an append: a record header promising more than was written
      local f = assert(io.open(spool_file(dir), "ab"))
      f:write("SvW1", u32(500), u32(12345), "half a rec")
      f:close()
      db:start()

      r, out = child({ "replay", db.uri, dir })
      assert(r, out)
      assert.is_true(r.flushed, out)
      assert.equal(40, r.applied)
      assert.equal(0, r.failed_permanently)
      assert.equal(1, r.corrupt_skipped)
      assert.is_true(r.stopped)
      assert.matches('"event":"writer.spool"[^\n]*torn', out)
      assert.is_nil(out:find(MARKER, 1, true), "a log line shows document contents")
      assert.same(seq(20), events("writer_crash", "torn"))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("a record with a bad checksum in the middle is skipped and the records after it are applied", function()
      local dir = proc.temp_dir("spool")
      db:kill()
      local r, out = child({ "crash_down", db.uri, dir, 10, "mid" })
      assert(r and not r.error, out)
      local text = assert(proc.read_file(spool_file(dir)))
      local recs = records(text)
      assert.equal(20, #recs)
      local rec = recs[9] -- the insert of step 5
      local at = rec.payload + 10
      text = text:sub(1, at - 1) .. string.char((text:byte(at) + 1) % 256) .. text:sub(at + 1)
      local f = assert(io.open(spool_file(dir), "wb"))
      f:write(text)
      f:close()
      db:start()

      start(dir)
      assert.is_true(writer.flush(30000))
      local s = writer.stats()
      assert.equal(19, s.applied)
      assert.equal(1, s.corrupt_skipped)
      assert.is_nil(h:find_one("writer_crash", { _id = "mid-5" }) or nil)
      assert.truthy(h:find_one("writer_crash", { _id = "mid-6" }))
      assert.same(seq(10), events("writer_crash", "mid"))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("a file that is not a spool makes start fail rather than be overwritten", function()
      local dir = proc.temp_dir("spool")
      local f = assert(io.open(spool_file(dir), "wb"))
      f:write("something else entirely, not ours")
      f:close()
      local ok, err = writer.start { spool_dir = dir }
      assert.is_nil(ok)
      assert.matches("not a Sova spool", err)
      assert.equal("something else entirely, not ours", proc.read_file(spool_file(dir)))
    end)
  end)
  -- A voice call's recording: the media plane's recorder (core.recorder, a seam in the specs'
  -- module only) streams both channels into a sealed spill; the writer's "recording" operation
  -- turns the spill into the session's sealed GridFS recording and summary.
  describe("recordings #recording", function()
    local recording = require("sova.recording")
    local RATE, SECONDS = 16000, 3

    local function le16(v) v = v % 65536; return string.char(v % 256, math.floor(v / 256)) end

    -- Sample i of a channel: a pattern that never repeats within the recording.
    local function sample(ch, i) return (i * (ch == 0 and 7919 or 104729) + ch * 31337 + math.floor(i / 97)) % 65536 end

    -- Records SECONDS of both channels in 20 ms frames (the other party's frames one behind the
    -- agent's, as a live call delivers them); returns the spill id, its info and the WAV expected.
    local function record(dir, seconds)
      local rec = assert(core.recorder.new(dir, RATE))
      local step, frames = RATE / 50, RATE * (seconds or SECONDS)
      local data = {}
      local function pcm(ch, at)
        local t = {}
        for i = at, at + step - 1 do t[#t + 1] = le16(sample(ch, i)) end
        return table.concat(t)
      end
      for at = 0, frames - 1, step do
        assert(rec:write(0, at, pcm(0, at)))
        if at >= step then assert(rec:write(1, at - step, pcm(1, at - step))) end
      end
      assert(rec:write(1, frames - step, pcm(1, frames - step)))
      assert.equal(0, rec:stats().late_samples)
      for i = 0, frames - 1 do data[#data + 1] = le16(sample(0, i)) .. le16(sample(1, i)) end
      local id, info = rec:finish()
      assert(id, info)
      local pcm_bytes = table.concat(data)
      local function le32(n) return le16(n % 65536) .. le16(math.floor(n / 65536)) end
      local wav = "RIFF" .. le32(36 + #pcm_bytes) .. "WAVEfmt " .. le32(16) .. le16(1) .. le16(2) .. le32(RATE)
        .. le32(RATE * 4) .. le16(4) .. le16(16) .. "data" .. le32(#pcm_bytes) .. pcm_bytes
      return id, info, wav
    end

    local function new_session()
      local org, session = core.bson.oid(), core.bson.oid()
      assert(h:insert("sessions", { _id = session, organization_id = org, mode = "browser" }))
      return org, session
    end

    lazy_setup(function() assert(core.recording.set_key(helpers.DATA_KEY)) end)

    it("a call recorded through the recorder is stored by the writer, sealed, and reads back byte for byte", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      local org, session = new_session()
      local id, info, wav = record(dir)
      assert.equal(RATE * SECONDS * 4, info.bytes)
      assert.equal(SECONDS, info.duration_seconds)
      assert.is_true(proc.exists(info.path))
      assert.is_true(core.recorder.registered(id))
      -- the spill on disk holds none of the audio
      local spilled = proc.read_file(info.path)
      assert.is_nil(spilled:find(wav:sub(45 + 4000, 45 + 4015), 1, true))
      assert.is_nil(spilled:find(wav:sub(45 + 100000, 45 + 100015), 1, true))

      push { kind = "recording", organization_id = org, session_id = session, spill = id }
      assert.is_true(writer.flush(30000))
      local s = writer.stats()
      assert.equal(1, s.recordings_stored)
      assert.equal(0, s.failed_permanently)
      assert.is_false(proc.exists(info.path))
      assert.is_false(core.recorder.registered(id))

      local back = assert(core.recording.read(h, org, session, 0, #wav - 1))
      assert.equal(#wav, #back)
      assert.is_true(back == wav, "the stored recording differs from what was recorded")
      local doc = assert(h:find_one("sessions", { _id = session }))
      assert.same({ bytes = #wav, duration_seconds = recording.wav_duration(wav), content_type = "audio/wav" },
        doc.recording)
      local file = assert(h:find_one("recordings.files", { _id = session }))
      assert.equal(core.crypto.sha256_hex(wav), file.metadata.sha256)
      assert.equal(tostring(org), tostring(file.metadata.organization_id))
      for _, c in ipairs(assert(h:find("recordings.chunks", { files_id = session }))) do
        assert.is_nil(c.data:find(wav:sub(45 + 4000, 45 + 4015), 1, true))
      end
      -- another clinic finds nothing
      assert.is_false(core.recording.info(h, core.bson.oid(), session))
    end)

    it("with the database down the spill waits; once it is back the recording is stored once", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      local org, session = new_session()
      local id, info, wav = record(dir, 2)
      db:kill()
      push { kind = "recording", organization_id = org, session_id = session, spill = id }
      helpers.wait_until(function() local s = writer.stats() return s.db_down and s.spooled == 1 end, 20)
      assert.is_true(proc.exists(info.path))
      -- the spooled operation names the spill, never its key (the key is not on disk anywhere)
      assert.truthy(proc.read_file(spool_file(dir)):find(id, 1, true))
      db:start()
      assert.is_true(writer.flush(30000))
      assert.equal(1, writer.stats().recordings_stored)
      assert.equal(1, helpers.count(db, "recordings.files", { _id = session }))
      assert.is_true(core.recording.read(h, org, session, 0, #wav - 1) == wav)
      assert.is_false(proc.exists(info.path))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("a recording still waiting when the process ends is lost, counted, and leaves nothing behind", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      local org, session = new_session()
      local id, info = record(dir, 1)
      db:kill()
      push { kind = "recording", organization_id = org, session_id = session, spill = id }
      local ok = writer.stop(300)
      assert.is_nil(ok)
      assert.is_true(core.recorder.forget(id)) -- what the process's end does: the key is gone
      assert.is_false(proc.exists(info.path))
      db:start()
      start(dir)
      assert.is_true(writer.flush(30000))
      local s = writer.stats()
      assert.equal(1, s.recordings_lost)
      assert.equal(0, s.recordings_stored)
      assert.equal(0, helpers.count(db, "recordings.files", { _id = session }))
      assert.is_false(proc.exists(spool_file(dir)))
    end)

    it("a second recording for a session that has one is dropped; the first stays", function()
      local dir = proc.temp_dir("spool")
      start(dir)
      local org, session = new_session()
      local id1, _, wav = record(dir, 1)
      push { kind = "recording", organization_id = org, session_id = session, spill = id1 }
      assert.is_true(writer.flush(30000))
      local id2, info2 = record(dir, 2)
      push { kind = "recording", organization_id = org, session_id = session, spill = id2 }
      assert.is_true(writer.flush(30000))
      local s = writer.stats()
      assert.equal(1, s.recordings_stored)
      assert.equal(1, s.failed_permanently)
      assert.is_false(proc.exists(info2.path))
      assert.is_true(core.recording.read(h, org, session, 0, #wav - 1) == wav)
      -- the in-memory store (sova.recording.store) goes through the same streaming path
      local org2, session2 = new_session()
      assert(recording.store(h, org2, session2, wav))
      assert.is_true(core.recording.read(h, org2, session2, 0, #wav - 1) == wav)
    end)

    it("an unknown spill answers nil, err; a malformed recording operation raises", function()
      start(proc.temp_dir("spool"))
      local org, session = new_session()
      local ok, err = writer.push { kind = "recording", organization_id = org, session_id = session,
        spill = string.rep("a", 32) }
      assert.is_nil(ok)
      assert.truthy(err:find("no such spill", 1, true))
      assert.has_error(function() writer.push { kind = "recording", organization_id = org, spill = "x" } end)
      assert.has_error(function() writer.push { kind = "recording", organization_id = org, session_id = session } end)
      assert.has_error(function()
        writer.push { kind = "recording", organization_id = org, session_id = session, spill = "x", doc = {} }
      end)
    end)
  end)
end)
