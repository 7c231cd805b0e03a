-- Specs of sova.lease (lua/sova/lease.lua): who may act on a thing now, among processes that
-- share only the database; against a real FerretDB, with processes racing and one of them killed.
-- Run from the repo root: busted spec/core/lease_spec.lua  (or busted -t lease)
local helpers = require("helpers")
local core = helpers.core
local proc = helpers.proc
local lease = require("sova.lease")

local RACER = proc.root .. "/spec/fixtures/lease_racer.lua"

describe("sova.lease #lease", function()
  local db, h

  lazy_setup(function()
    db = helpers.start_db()
    h = db:handle()
    assert(h:insert(lease.COLL, { _id = "probe", key = "probe", epoch = 0 })) -- the collection exists
  end)
  lazy_teardown(helpers.stop_all)

  it("is taken once; another owner is refused until it is released, then takes the next epoch", function()
    local a = assert(lease.take(h, "one", "A", 5000))
    assert.equal(1, a.epoch)
    assert.is_true(lease.valid(a))
    local b, why = lease.take(h, "one", "B", 5000)
    assert.is_nil(b)
    assert.equal("held", why)
    a = assert(lease.renew(h, a))
    assert.equal(2, a.epoch)
    assert.is_true(lease.release(h, a))
    b = assert(lease.take(h, "one", "B", 5000))
    assert.equal(4, b.epoch) -- 3 was the release
    assert.same({ nil, "lost" }, { lease.renew(h, a) })
  end)

  it("of a holder that stopped renewing is taken by another once it has expired, and the holder has lost it", function()
    local a = assert(lease.take(h, "two", "A", 2100))
    assert.equal("held", select(2, lease.take(h, "two", "B", 2100)))
    core.sys.sleep((2100 + lease.SKEW_MS) / 1000 + 0.2)
    assert.is_false(lease.valid(a))
    local b = assert(lease.take(h, "two", "B", 2100))
    assert.equal(2, b.epoch)
    assert.same({ nil, "lost" }, { lease.renew(h, a) })
    assert.same({ nil, "lost" }, { lease.release(h, a) })
  end)

  it("refuses a key with ':' and a ttl within the clocks' margin", function()
    assert.has_error(function() lease.take(h, "a:b", "A", 5000) end)
    assert.has_error(function() lease.take(h, "three", "A", lease.SKEW_MS) end)
    assert.has_error(function() lease.take(h, "three", "", 5000) end)
  end)

  it("is never held by two racing processes at once, and a killed holder's leases are taken over", function()
    local TTL, KEYS = 3000, 6
    local out = proc.temp_path("leases", ".txt")
    local env = proc.clean_env({ MONGODB_URI = db.uri, ASAN_OPTIONS = os.getenv("SOVA_SERVER_ASAN_OPTIONS") })
    local function racer(owner, seconds, hold_ms)
      return proc.spawn({ proc.sova_bin(), "script", RACER, owner, tostring(KEYS), tostring(seconds), tostring(TTL), tostring(hold_ms), out },
        { env = env, log = proc.temp_path("racer-" .. owner, ".log") })
    end
    -- C holds each lease for a minute: when it is killed it holds one, which must wait out its
    -- expiry before A or B take it
    local a, b, c = racer("A", 16, 60), racer("B", 16, 60), racer("C", 16, 60000)
    assert.is_truthy(helpers.wait_until(function() return (proc.read_file(out) or ""):find("take ") end, 30),
      "no racer took a lease")
    core.sys.sleep(3) -- C has taken one by now, and holds it
    local killed_at = math.floor(core.sys.time() * 1000)
    c:kill()
    assert.equal(0, a:wait(60), a:tail(20))
    assert.equal(0, b:wait(60), b:tail(20))

    -- every epoch of a key belongs to one process; each hold is [take, end or the kill]
    local holds, epochs, open = {}, {}, {}
    for what, owner, key, epoch, ms in (proc.read_file(out) or ""):gmatch("(%a+) (%u) (k%d+) (%d+) (%d+)\n") do
      epoch, ms = tonumber(epoch), tonumber(ms)
      local id, held = key .. ":" .. epoch, owner .. key
      if what == "take" or what == "renew" then
        assert.is_nil(epochs[id], "epoch " .. id .. " was won twice")
        epochs[id] = owner
      end
      if what == "take" then
        open[held] = { key = key, owner = owner, from = ms }
      elseif what == "end" or what == "lost" then
        assert.is_table(open[held], what .. " of " .. id .. " without its take")
        open[held].to = ms
        holds[#holds + 1] = open[held]
        open[held] = nil
      end
    end
    local orphans = 0
    for _, o in pairs(open) do -- C's, cut short by the kill: its lease stood until it expired
      assert.equal("C", o.owner)
      o.to, o.orphan = killed_at, true
      orphans = orphans + 1
      holds[#holds + 1] = o
    end
    assert.equal(1, orphans, "C held one lease when it was killed")
    local taken_over = false
    table.sort(holds, function(x, y) return x.from < y.from end)
    for i, x in ipairs(holds) do
      for j = i + 1, #holds do
        local y = holds[j]
        if y.key == x.key then
          assert.is_true(y.from >= x.to, ("%s held twice at once: [%d, %d] and [%d, %d]"):format(x.key, x.from, x.to, y.from, y.to))
          if x.orphan then
            taken_over = true
            assert.is_true(y.from >= x.from + TTL, "a killed holder's lease was taken before it expired")
          end
        end
      end
    end
    assert.is_true(taken_over, "the killed holder's lease was not taken over")
    assert.is_true(#holds > 50, "too few holds to have raced: " .. #holds)
  end)
end)
