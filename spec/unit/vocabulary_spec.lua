-- sova.sandboxed.vocabulary: call statuses, system fields and session event types spelled once,
-- and the places that spell them taking them from there.
local vocabulary = require("sova.sandboxed.vocabulary")
local config = require("sova.config")

local keys = require("helpers").sorted_keys

describe("sova.sandboxed.vocabulary #unit", function()
  it("gives each call status one code and one label, both unique", function()
    local codes, labels = {}, {}
    for _, s in ipairs(vocabulary.CALL_STATUSES) do
      assert.truthy(s.code:match("^[a-z][a-z_]*$"), s.code)
      assert.is_nil(codes[s.code], "code twice: " .. s.code)
      assert.is_nil(labels[s.label], "label twice: " .. s.label)
      codes[s.code], labels[s.label] = true, true
    end
  end)

  it("keeps the spellings the database holds (the seed's data model)", function()
    -- patients.call_status stores the label, sessions.status the code
    assert.equal("Not Started", vocabulary.call_status_label("not_started"))
    assert.equal("No Answer", vocabulary.call_status_label("no_answer"))
    assert.equal("In Progress", vocabulary.call_status_label("in_progress"))
    assert.same({ "busy", "canceled", "completed", "failed", "incomplete", "no_answer", "voicemail" },
      keys(vocabulary.TERMINAL_STATUSES))
  end)

  it("refuses an unknown status code instead of storing a misspelling", function()
    assert.has_error(function() vocabulary.call_status_label("No Answer") end,
      "vocabulary: unknown call status No Answer")
    assert.has_error(function() vocabulary.call_status_label(nil) end)
  end)

  it("lists the terminal codes for messages", function()
    assert.equal("busy, canceled, completed, failed, incomplete, no_answer, voicemail", vocabulary.terminal_codes())
    assert.equal("busy, canceled, completed, failed, incomplete, no_answer or voicemail", vocabulary.terminal_codes(" or "))
    assert.equal("completed, failed, incomplete, no_answer or voicemail", vocabulary.flow_end_codes(" or "))
  end)

  it("keeps the phone line's own statuses out of what a flow may end a call with", function()
    assert.same({ "completed", "failed", "incomplete", "no_answer", "voicemail" }, keys(vocabulary.FLOW_END_STATUSES))
    assert.is_nil(vocabulary.flow_end_problem("voicemail"))
    assert.equal("status canceled is the phone line's own (the platform sets it from the line); a flow ends a call "
      .. "with completed, failed, incomplete, no_answer or voicemail", vocabulary.flow_end_problem("canceled"))
    assert.equal('status must be completed, failed, incomplete, no_answer or voicemail, not "Busy"',
      vocabulary.flow_end_problem("Busy"))
    assert.equal("status must be completed, failed, incomplete, no_answer or voicemail, not nil",
      vocabulary.flow_end_problem(nil))
  end)

  it("derives its look-ups from its lists", function()
    assert.same(keys(vocabulary.SYSTEM_FIELD_SET), (function()
      local t = { unpack(vocabulary.SYSTEM_FIELDS) }
      table.sort(t)
      return t
    end)())
    for _, e in ipairs(vocabulary.SESSION_EVENTS) do assert.equal(e, vocabulary.EVENT_BY_TYPE[e.type]) end
  end)

  it("is plain data as JSON for GET /api/meta", function()
    local doc = vocabulary.document()
    assert.equal(#vocabulary.CALL_STATUSES, #doc.call_statuses)
    assert.same({ code = "completed", label = "Completed", terminal = true }, doc.call_statuses[4])
    assert.same({ code = "queued", label = "Queued", terminal = false }, doc.call_statuses[2])
    assert.same(vocabulary.SYSTEM_FIELDS, doc.system_fields)
    assert.same({ type = "dtmf", label = "Keypad tones" }, doc.session_events[5])
  end)

  it("is what the validator, the flow library and the engine use", function()
    assert.equal(vocabulary.SYSTEM_FIELD_SET, require("sova.sandboxed.schema").SYSTEM_FIELDS)
    assert.equal(vocabulary.FLOW_END_STATUSES, require("sova.sandboxed.flow").END_STATUSES)
  end)

  it("has every status the platform writes: codes in sessions, labels in patients", function()
    local root = config.root_dir()
    local function source(rel) return (assert(config.read_file(root .. "/" .. rel), rel)) end
    local seen = {}
    for _, rel in ipairs({ "lua/sova/call/engine.lua", "lua/sova/bot/calls.lua", "lua/sova/api/calls.lua",
      "lua/sova/bot/phone.lua" }) do
      local text = source(rel)
      for code in text:gmatch('[%.%s{]status = "([%w_]+)"') do
        assert.is_table(vocabulary.STATUS_BY_CODE[code], rel .. " writes status " .. code)
        seen[code] = true
      end
      for code in text:gmatch('_finish%("([%w_]+)"') do
        assert.is_table(vocabulary.STATUS_BY_CODE[code], rel .. " finishes a call as " .. code)
        seen[code] = true
      end
      assert.is_nil(text:find('call_status = "', 1, true), rel .. " spells a call_status label itself")
    end
    assert.same({ "completed", "failed", "in_progress", "incomplete", "no_answer", "queued", "voicemail" }, keys(seen))
    local labels, stored = {}, 0
    for _, s in ipairs(vocabulary.CALL_STATUSES) do labels[s.label] = true end
    for _, rel in ipairs({ "bench/seed_patients.lua", "bench/calls_driver.lua" }) do
      for label in source(rel):gmatch('call_status = "([^"]+)"') do
        assert.is_true(labels[label], rel .. " stores call_status " .. label)
        stored = stored + 1
      end
    end
    assert.equal(2, stored)
  end)
end)
