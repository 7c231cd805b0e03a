-- The driver of bench/campaigns.sh: through the running `sova api`, adds BENCH_N patients to each
-- of the demo clinics' three workflows, starts one simulated campaign per workflow (concurrency
-- BENCH_CONCURRENCY, BENCH_CPS calls a second, one attempt each), and waits until all three are
-- finished. Every callee's line fails at once (the simulator's "failed"), so an attempt costs
-- what the platform spends on it, not a conversation. Measures: the campaign create's latency,
-- the attempts per second over the run, and the CPU (utime + stime, /proc/<pid>/stat) of `sova
-- campaigns`, `sova bot`, `sova api` and FerretDB per attempt. Trusted code under LuaJIT with the
-- platform's modules. Writes BENCH_RESULT (JSON).
local core = require("sova.core")
local cjson = require("cjson")
local patients = require("fixtures.patients")

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then
    if default == nil then error(name .. " is required", 0) end
    return default
  end
  return v
end

local API = env("BENCH_API_URL")
local N = tonumber(env("BENCH_N", "200"))
local CONCURRENCY = tonumber(env("BENCH_CONCURRENCY", "20"))
local CPS = tonumber(env("BENCH_CPS", "10"))
local PASSWORD = env("SOVA_DEMO_PASSWORD")
local PIDS = {}
for name, pid in env("BENCH_PIDS"):gmatch("(%w+)=(%d+)") do PIDS[name] = pid end

local CLINICS = {
  { host = "democlinicalpha.localhost", email = "adambehun22@gmail.com", fixtures = "alpha", wf = "prior_auth",
    number_field = "insurance_phone" },
  { host = "democlinicalpha.localhost", email = "adambehun22@gmail.com", fixtures = "alpha", wf = "patient_questions",
    number_field = "phone_number" },
  { host = "democlinicbeta.localhost", email = "adam@datasova.com", fixtures = "beta", wf = "patient_questions",
    number_field = "phone_number" },
}

local function req(c, method, path, body)
  local res, err = core.http.request { method = method, url = API .. path, timeout_ms = 60000,
    headers = { host = c.host, ["content-type"] = "application/json", authorization = c.token and ("Bearer " .. c.token) },
    body = body and cjson.encode(body) or nil }
  if not res then error(method .. " " .. path .. ": " .. tostring(err), 0) end
  return res.status, res.body ~= "" and cjson.decode(res.body) or nil
end

local function cpu_ms(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) * 10 -- clock ticks of 10 ms
end

for _, c in ipairs(CLINICS) do
  local st, b = req(c, "POST", "/api/auth/login", { email = c.email, password = PASSWORD })
  assert(st == 200, "login " .. tostring(st))
  c.token = b.token
  c.ids = {}
  for i = 1, N do
    local p = {}
    for k, v in pairs(patients[c.fixtures][c.wf]) do p[k] = v end
    p[c.number_field] = ("+1415%03d%04d"):format(500 + #c.ids % 400, i)
    local s2, made = req(c, "POST", "/api/workflows/" .. c.wf .. "/patients", p)
    assert(s2 == 201, "patient " .. tostring(s2))
    c.ids[#c.ids + 1] = made.id
  end
end

local cpu0 = {}
for name, pid in pairs(PIDS) do cpu0[name] = cpu_ms(pid) end
local t0 = core.sys.monotonic()
local create_ms = {}
local retry = {}
for _, r in ipairs({ "no_answer", "busy", "voicemail", "failed", "incomplete" }) do retry[r] = { attempts = 1, every_minutes = 60 } end
for _, c in ipairs(CLINICS) do
  local t = core.sys.monotonic()
  local st, b = req(c, "POST", "/api/workflows/" .. c.wf .. "/campaigns", { patient_ids = c.ids, mode = "simulated",
    concurrency = CONCURRENCY, calls_per_second = CPS, retry = retry })
  assert(st == 201, "campaign " .. tostring(st))
  create_ms[#create_ms + 1] = math.floor((core.sys.monotonic() - t) * 1000)
  c.campaign = b.id
end
local attempts, by_result = 0, {}
while true do
  local all = true
  attempts, by_result = 0, {}
  for _, c in ipairs(CLINICS) do
    local _, d = req(c, "GET", "/api/campaigns/" .. c.campaign)
    all = all and d.status == "finished"
    attempts = attempts + #d.attempts
    for k, v in pairs(d.counts) do by_result[k] = (by_result[k] or 0) + v end
  end
  if all then break end
  core.sys.sleep(0.5)
end
local wall = core.sys.monotonic() - t0
local per_attempt = {}
for name, pid in pairs(PIDS) do
  local now = cpu_ms(pid)
  if now and cpu0[name] then per_attempt[name] = math.floor((now - cpu0[name]) / attempts * 100 + 0.5) / 100 end
end
local result = { n_per_campaign = N, campaigns = #CLINICS, concurrency = CONCURRENCY, calls_per_second = CPS,
  attempts = attempts, wall_s = math.floor(wall * 10 + 0.5) / 10,
  attempts_per_s = math.floor(attempts / wall * 100 + 0.5) / 100, create_ms = create_ms,
  cpu_ms_per_attempt = per_attempt, results = by_result }
print(cjson.encode(result))
local f = assert(io.open(env("BENCH_RESULT"), "w"))
f:write(cjson.encode(result), "\n")
f:close()
