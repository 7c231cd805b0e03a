-- sova.campaign.policy: what a campaign's request may ask (its mode, caps, calling window and
-- retries), and the rules that follow from it: when an attempt's result calls for another
-- attempt, and when a time falls inside the calling window. Pure functions: the scheduler and
-- the API share them, and the specs run them without a database.
local M = {}

M.MODES = { phone = true, simulated = true }
M.MAX_CONCURRENCY = 50
M.MAX_CALLS_PER_SECOND = 10 -- carriers allow about one a second per caller ID; more is a mistake
M.MAX_ATTEMPTS = 10
M.MAX_EVERY_MINUTES = 7 * 24 * 60
M.DAYS = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" } -- os.date's wday order
-- the results an attempt can end with that another attempt may fix; "completed" is final
M.RETRYABLE = { "no_answer", "busy", "voicemail", "failed", "incomplete" }
M.DEFAULT_RETRY = {
  no_answer = { attempts = 3, every_minutes = 60 },
  busy = { attempts = 3, every_minutes = 10 },
  voicemail = { attempts = 2, every_minutes = 240 },
  failed = { attempts = 2, every_minutes = 30 },
  incomplete = { attempts = 2, every_minutes = 60 },
}

local DAY_INDEX = {}
for i, d in ipairs(M.DAYS) do DAY_INDEX[d] = i end
local RETRYABLE = {}
for _, r in ipairs(M.RETRYABLE) do RETRYABLE[r] = true end

local function integer_in(v, lo, hi)
  return type(v) == "number" and v == math.floor(v) and v >= lo and v <= hi
end

-- "HH:MM" -> minutes of the day | nil
local function clock(v)
  if type(v) ~= "string" then return nil end
  local h, m = v:match("^(%d%d):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or h > 24 or m > 59 or (h == 24 and m > 0) then return nil end
  return h * 60 + m
end

local function parse_window(w, errors, zone_ok, field_ok)
  if type(w) ~= "table" then errors.window = "an object: {days, start, end, time_zone}"; return nil end
  for k in pairs(w) do
    if k ~= "days" and k ~= "start" and k ~= "end" and k ~= "time_zone" then
      errors["window." .. tostring(k)] = "not a window setting"
    end
  end
  local out = { days = {} }
  if type(w.days) ~= "table" or #w.days == 0 then
    errors["window.days"] = "a list of days: sun, mon, tue, wed, thu, fri, sat"
  else
    for i, d in ipairs(w.days) do
      if not DAY_INDEX[d] then errors["window.days." .. i] = "not a day (sun, mon, ... sat)"
      elseif out.days[DAY_INDEX[d]] then errors["window.days." .. i] = "named twice"
      else out.days[DAY_INDEX[d]] = true end
    end
  end
  out.start, out["end"] = clock(w.start), clock(w["end"])
  if not out.start then errors["window.start"] = "a time of day, HH:MM" end
  if not out["end"] then errors["window.end"] = "a time of day, HH:MM" end
  if out.start and out["end"] and out["end"] <= out.start then
    errors["window.end"] = "after the start (a window does not cross midnight)"
  end
  local tz = w.time_zone
  if tz == nil or tz == "org" then
    out.time_zone = { org = true }
  elseif type(tz) == "table" and type(tz.field) == "string" then
    if field_ok(tz.field) then out.time_zone = { field = tz.field }
    else errors["window.time_zone.field"] = "not a text field of this workflow's patients" end
  elseif type(tz) == "string" then
    if zone_ok(tz) then out.time_zone = { zone = tz }
    else errors["window.time_zone"] = "not a time zone (an IANA name such as America/Chicago)" end
  else
    errors["window.time_zone"] = "\"org\", an IANA zone name, or {field = <patient field>}"
  end
  return out
end

local function parse_retry(r, errors)
  local out = {}
  for k, v in pairs(M.DEFAULT_RETRY) do out[k] = { attempts = v.attempts, every_minutes = v.every_minutes } end
  if r == nil then return out end
  if type(r) ~= "table" then errors.retry = "an object: {<result>: {attempts, every_minutes}}"; return out end
  for result, rule in pairs(r) do
    local at = "retry." .. tostring(result)
    if not RETRYABLE[result] then
      errors[at] = "not a result that can be retried (no_answer, busy, voicemail, failed, incomplete)"
    elseif type(rule) ~= "table" then
      errors[at] = "an object: {attempts, every_minutes}"
    else
      if not integer_in(rule.attempts, 1, M.MAX_ATTEMPTS) then
        errors[at .. ".attempts"] = ("a whole number from 1 to %d (the first call counts)"):format(M.MAX_ATTEMPTS)
      end
      if not integer_in(rule.every_minutes, 1, M.MAX_EVERY_MINUTES) then
        errors[at .. ".every_minutes"] = ("a whole number of minutes from 1 to %d"):format(M.MAX_EVERY_MINUTES)
      end
      out[result] = { attempts = rule.attempts, every_minutes = rule.every_minutes }
    end
  end
  return out
end

-- parse(body, opts) -> settings | nil, errors ({path = message})
-- opts.zone_ok(name) -> is it a time zone; opts.field_ok(key) -> is it a text field of the
-- workflow's patient_schema (a window may take each patient's zone from one).
function M.parse(body, opts)
  local errors = {}
  local out = {}
  if not M.MODES[body.mode] then errors.mode = "\"phone\" or \"simulated\"" end
  out.mode = body.mode
  out.concurrency = body.concurrency == nil and 5 or body.concurrency
  if not integer_in(out.concurrency, 1, M.MAX_CONCURRENCY) then
    errors.concurrency = ("a whole number from 1 to %d: the calls at once"):format(M.MAX_CONCURRENCY)
  end
  out.calls_per_second = body.calls_per_second == nil and 1 or body.calls_per_second
  local cps = out.calls_per_second
  if type(cps) ~= "number" or cps ~= cps or cps <= 0 or cps > M.MAX_CALLS_PER_SECOND then
    errors.calls_per_second = ("more than 0, at most %d: calls started per second from one caller ID"):format(M.MAX_CALLS_PER_SECOND)
  end
  if body.window ~= nil then out.window = parse_window(body.window, errors, opts.zone_ok, opts.field_ok) end
  out.retry = parse_retry(body.retry, errors)
  if next(errors) then return nil, errors end
  return out
end

-- retry_at(settings, result, attempts_made, ended_at) -> when the next attempt is due (seconds)
-- | nil: none (the result is final, or its attempts are used up)
function M.retry_at(settings, result, attempts_made, ended_at)
  local rule = RETRYABLE[result] and settings.retry[result]
  if not rule or attempts_made >= rule.attempts then return nil end
  return ended_at + rule.every_minutes * 60
end

-- open_at(window, t, offset) -> the first second at or after t inside the window (t itself when
-- it is inside; no window: t). offset(t) -> the zone's offset from UTC at t, in seconds (it
-- changes with daylight saving time, so it is asked again for each day tried).
function M.open_at(window, t, offset)
  if not window then return t end
  for _ = 1, 8 do -- a week and a day: some listed day comes round
    local off = offset(t)
    local loc = t + off
    local day_start = loc - loc % 86400
    local wday = math.floor(day_start / 86400 + 4) % 7 + 1 -- 1970-01-01 was a Thursday (5)
    local minute = (loc - day_start) / 60
    if window.days[wday] and minute < window["end"] then
      if minute >= window.start then return t end
      return day_start + window.start * 60 - off
    end
    t = day_start + 86400 - off -- the next local midnight
  end
  return nil -- no day listed: parse refuses that
end

-- store(settings) -> settings as a document stores them: a window's days by name (a BSON
-- document's keys are strings); load(doc) -> the shape parse gives, from it
function M.store(s)
  local out = { mode = s.mode, concurrency = s.concurrency, calls_per_second = s.calls_per_second, retry = s.retry }
  if s.window then
    out.window = { days = {}, start = s.window.start, ["end"] = s.window["end"], time_zone = s.window.time_zone }
    for i, d in ipairs(M.DAYS) do out.window.days[d] = s.window.days[i] or nil end
  end
  return out
end

function M.load(doc)
  local out = { mode = doc.mode, concurrency = doc.concurrency, calls_per_second = doc.calls_per_second, retry = doc.retry }
  if type(doc.window) == "table" then
    local w = doc.window
    out.window = { days = {}, start = w.start, ["end"] = w["end"], time_zone = w.time_zone }
    for i, d in ipairs(M.DAYS) do out.window.days[i] = type(w.days) == "table" and w.days[d] or nil end
  end
  return out
end

return M
