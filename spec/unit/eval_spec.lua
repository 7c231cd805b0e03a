-- `sova flow eval`'s driver and comparison (lua/sova/tools/eval.lua). The driver is played against
-- a small engine-shaped call that records what it is asked and when, so the virtual clock, the
-- silence timer and the hang-up are checked on their own; the real engine and flows run in
-- spec/flows/cli_spec.lua and the scenarios. Tags: #eval
local cjson = require("cjson")
local eval = require("sova.tools.eval")

-- An engine-shaped call: says "?" at the start, answers every line with "ok", wants silence()
-- `every` seconds after its turn (nil: never), checks once and closes at the second silence;
-- "bye" ends the call; it reads the clock it is given.
local function fake_engine(every)
  local log = {}
  local eng = {}
  function eng.new(o)
    local call = { status = "queued", outcome = {}, transcript = {}, log = log }
    local silences = 0
    local function say(text) call.transcript[#call.transcript + 1] = { role = "assistant", text = text, t = o.clock() } end
    function call:start() self.status = "in_progress"; say("?") end
    function call:user_says(text)
      log[#log + 1] = ("%g say %s"):format(o.clock(), text)
      self.transcript[#self.transcript + 1] = { role = "user", text = text, t = o.clock() }
      silences = 0
      if text:find("bye") then self.status, self.reason = "completed", "said bye" return end
      if text:find("blue") then self.outcome.colour = "Blue" end
      say("ok")
    end
    function call:silence_after() if self.status == "in_progress" then return every end end
    function call:silence()
      log[#log + 1] = ("%g silence"):format(o.clock())
      silences = silences + 1
      if silences == 1 then say("Are you still there?") return end
      self.status, self.reason = "completed", "no response from the other party"
      self.missing = { "colour" }
    end
    function call:hangup()
      log[#log + 1] = ("%g hangup"):format(o.clock())
      self.status, self.reason = "completed", "the other party hung up"
    end
    return call
  end
  return eng, log
end

local function play(lines, every, extra)
  local eng, log = fake_engine(every)
  local o = { engine = eng, host = {}, llm = {}, patient = {}, fields = {} }
  for k, v in pairs(extra or {}) do o[k] = v end
  local r = eval.play({ id = "s", lines = lines }, o)
  return r, log
end

describe("sova flow eval #eval", function()
  describe("the driver", function()
    it("says each line after its pause on the virtual clock (2 s by default)", function()
      local r, log = play({ "hello", { say = "blue", after = 7 }, "bye" }, 30)
      assert.same({ "2 say hello", "9 say blue", "11 say bye" }, log)
      assert.equal(3, r.turns)
      assert.equal("completed", r.status)
      assert.same({ "?", "ok", "ok" }, r.agent)
    end)

    it("runs the silence timer inside a long pause and a silence, then the line", function()
      local _, log = play({ { say = "late", after = 45 }, { silence = 70 }, "bye" }, 30)
      -- 30 s: the check; the line at 45; 30 s later the check again, 30 s more the close
      assert.same({ "30 silence", "45 say late", "75 silence", "105 silence" }, log)
    end)

    it("after the last line the other party stays silent until the engine closes the call", function()
      local r, log = play({ "hello" }, 30)
      assert.same({ "2 say hello", "32 silence", "62 silence" }, log)
      assert.equal("no response from the other party", r.reason)
      assert.same({ "colour" }, r.missing)
    end)

    it("hangs up where the scenario says, and says nothing after the call has ended", function()
      local r, log = play({ "hello", { silence = 10 }, "hangup", "never said" }, 30)
      assert.same({ "2 say hello", "12 hangup" }, log)
      assert.equal(1, r.turns)
      assert.equal("the other party hung up", r.reason)
    end)

    it("stops a call that asks for silence forever without ending, and says so", function()
      local eng = fake_engine(0)
      local new = eng.new
      eng.new = function(o)
        local c = new(o)
        c.silence = function() end -- never closes
        return c
      end
      local r = eval.play({ id = "s", lines = { "hello" } }, { engine = eng, host = {}, llm = {}, patient = {}, fields = {} })
      assert.matches("went on through " .. eval.MAX_SILENCES .. " silences", r.error)
      assert.equal("in_progress", r.status)
    end)

    it("in speech mode the agent hears each line as a recognizer returns it, the same for a seed", function()
      local r1 = play({ "It's BLUE, ref AUTH12." }, nil, { speech = { seed = 5, rate = 0 } })
      assert.same({ "it's blue ref auth one two" }, r1.heard)
      local a = play({ "Thank you for calling, this is Jennifer, how can I help you today?" }, nil, { speech = { seed = 9 } })
      local b = play({ "Thank you for calling, this is Jennifer, how can I help you today?" }, nil, { speech = { seed = 9 } })
      assert.same(a.heard, b.heard)
    end)
  end)

  describe("the phone network's part", function()
    -- "transfer me" starts a transfer, "press" presses 1; the outcome and the verdict are logged
    local function phone_engine()
      local log = {}
      local eng = {}
      function eng.new(o)
        local call = { status = "queued", outcome = {}, transcript = {}, events = {} }
        function call:start() self.status = "in_progress" end
        function call:user_says(text)
          log[#log + 1] = ("%g say %s"):format(o.clock(), text)
          if self.transferring then return {} end
          if text:find("transfer") then self.transferring = { to = "+15165550100" } end
          if text:find("press") then self.events[#self.events + 1] = { type = "dtmf", digits = "1" } end
          return {}
        end
        function call:silence_after() if self.status == "in_progress" and not self.transferring then return 30 end end
        function call:silence() self.status, self.reason = "completed", "no response" end
        function call:hangup() self.status = "completed" end
        function call:transfer_result(status)
          log[#log + 1] = ("%g transfer %s"):format(o.clock(), status)
          self.transferring = nil
          if status == "answered" then self.status, self.reason = "completed", "transferred" end
        end
        function call:machine(verdict)
          log[#log + 1] = ("%g machine %s"):format(o.clock(), verdict)
          self.status = "voicemail"
        end
        return call
      end
      return eng, log
    end

    local function run(lines)
      local eng, log = phone_engine()
      local r = eval.play({ id = "s", lines = lines }, { engine = eng, host = {}, llm = {}, patient = {}, fields = {} })
      return r, log
    end

    it("answers a transfer at once, as a text test call's host does", function()
      local r, log = run({ "transfer me", "never heard" })
      assert.same({ "2 say transfer me", "2 transfer answered" }, log)
      assert.same({ "completed", "transferred" }, { r.status, r.reason })
    end)

    it("gives the transfer the outcome the next line names, and the call goes on", function()
      local r, log = run({ "transfer me", { transfer = "no-answer" }, "press", { silence = 5 }, "hangup" })
      assert.same({ "2 say transfer me", "2 transfer no-answer", "4 say press" }, log)
      assert.same({ "1" }, r.pressed)
      assert.is_nil(r.error)
    end)

    it("says so when a line gives an outcome and no transfer is under way", function()
      local r = run({ "hello", { transfer = "busy" } })
      assert.equal("line 2 gives a transfer's outcome, but no transfer is under way", r.error)
    end)

    it("plays the answering machine's verdict after its pause", function()
      local r, log = run({ { machine = "machine_end_beep", after = 9 } })
      assert.same({ "9 machine machine_end_beep" }, log)
      assert.equal("voicemail", r.status)
    end)

    it("starts a phone scenario as the bot starts a phone call, listening first; others as a test call", function()
      local started = {}
      local eng = { new = function()
        local call = { status = "queued", outcome = {}, transcript = {}, events = {} }
        function call:start(opts) started[#started + 1] = opts or "none"; self.status = "completed" end
        function call:silence_after() end
        function call:silence() end
        return call
      end }
      local o = { engine = eng, host = {}, llm = {}, patient = {}, fields = {} }
      eval.play({ id = "p", phone = true, lines = { "hello" } }, o)
      eval.play({ id = "t", lines = { "hello" } }, o)
      assert.same({ { listen_first = true }, "none" }, started)
    end)

    it("tells whether the agent spoke first", function()
      local function diffs(want, first_role)
        return eval.compare({ status = "completed", speaks_first = want }, { status = "completed", turns = 0,
          outcome = {}, agent = {}, transcript = first_role and { { role = first_role, text = "x" } } or {} })
      end
      assert.same({}, diffs(false, "user"))
      assert.same({}, diffs(false, nil))
      assert.same({}, diffs(true, "assistant"))
      assert.same({ "the agent spoke first" }, diffs(false, "assistant"))
      assert.same({ "the agent did not speak first" }, diffs(true, "user"))
    end)

    it("compares the keys pressed, in order", function()
      assert.same({}, eval.compare({ status = "completed", pressed = { "1", "123#" } },
        { status = "completed", turns = 0, outcome = {}, agent = {}, pressed = { "1", "123#" } }))
      assert.same({ "pressed [1], expected [1, 123#]" }, eval.compare({ status = "completed", pressed = { "1", "123#" } },
        { status = "completed", turns = 0, outcome = {}, agent = {}, pressed = { "1" } }))
    end)
  end)

  describe("the comparison", function()
    local result = {
      status = "completed", reason = "said bye", turns = 4, missing = { "b", "a" },
      outcome = { colour = "Blue", notes = "Patient mentioned Metformin.", level = 3 },
      agent = { "The reference is A U T H 1 2.", "Goodbye." },
    }

    it("passes when everything listed matches", function()
      assert.same({}, eval.compare({
        status = "completed", reason = "bye|hung up", max_turns = 4, missing = { "a", "b" },
        outcome = { colour = "Blue", notes = { match = "metformin" }, level = 3, other = cjson.null },
        said = { "AUTH12|A U T H 1 2" }, not_said = { "NPI" },
      }, result))
    end)

    it("names every difference", function()
      local diffs = eval.compare({
        status = "incomplete", reason = "stuck", max_turns = 3, missing = { "a" },
        outcome = { colour = "Red", notes = { match = "aspirin" }, absent = "x" },
        said = { "NPI" }, not_said = { "Goodbye" },
      }, result)
      assert.same({
        "status completed (said bye), expected incomplete",
        'reason "said bye", expected one matching "stuck"',
        'outcome.absent = not written, expected "x"',
        'outcome.colour = "Blue", expected "Red"',
        'outcome.notes = "Patient mentioned Metformin.", expected a text matching "aspirin"',
        "outcome.level = 3 written, not expected",
        "missing [a, b], expected [a]",
        "took 4 turns, at most 3 expected",
        'the agent never said "NPI"',
        'the agent said "Goodbye." (matches "Goodbye")',
      }, diffs)
    end)

    it("with outcome_exact false leaves the unlisted fields alone; null means not written", function()
      assert.same({}, eval.compare({ status = "completed", outcome = { colour = "Blue" }, outcome_exact = false }, result))
      assert.same({ 'outcome.colour = "Blue", expected not written' },
        eval.compare({ status = "completed", outcome = { colour = cjson.null }, outcome_exact = false }, result))
    end)

    it("an error of the run is a difference", function()
      assert.same({ "error: boom" }, eval.compare({ status = "completed", outcome_exact = false }, {
        error = "boom", status = "completed", turns = 0, outcome = {}, agent = {} }))
    end)
  end)

  describe("scenario files", function()
    local dir

    before_each(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(require("sova.core").sys.mkdir(dir))
    end)
    after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

    local function write(name, text)
      local f = assert(io.open(dir .. "/" .. name, "w"))
      f:write(text)
      f:close()
      return dir .. "/" .. name
    end

    it("loads a valid scenario with its id from the file name", function()
      local sc = assert(eval.load(write("approved.yaml",
        'name: Approved\nlines:\n  - "Hi"\n  - { silence: 5 }\n  - hangup\nexpect:\n  status: completed\n')))
      assert.equal("approved", sc.id)
      assert.equal("hangup", sc.lines[3])
    end)

    it("names the file and the key of each mistake, Lua patterns included", function()
      local path = write("bad.yaml", 'name: Bad\nlines: []\nextra: 1\nexpect:\n  status: completed\n  said: ["(unclosed"]\n')
      local sc, problems = eval.load(path)
      assert.is_nil(sc)
      local text = eval.format_problems(problems)
      assert.matches(path .. ": /lines: ", text, 1, true)
      assert.matches(path .. ": /extra: is not allowed", text, 1, true)
      path = write("pattern.yaml", 'name: P\nlines: ["x"]\nexpect:\n  status: completed\n  said: ["(unclosed"]\n')
      sc, problems = eval.load(path)
      assert.is_nil(sc)
      assert.matches(path .. ": /expect/said/0: not a Lua pattern: unfinished capture", eval.format_problems(problems), 1, true)
      sc, problems = eval.load(write("broken.yaml", "name: [unclosed\n"))
      assert.matches("broken.yaml: line %d+", eval.format_problems(problems))
    end)

    it("builds the patient from the base and the overrides, checked against the schema", function()
      local fields = { { key = "patient_name", type = "string" }, { key = "date_of_birth", type = "date" } }
      local p = assert(eval.patient({ patient_name = "Ada", date_of_birth = "1990-01-02" }, { date_of_birth = false }, fields, "x.yaml"))
      assert.same({ patient_name = "Ada" }, p)
      local _, problems = eval.patient({ patient_name = "Ada" }, { date_of_birth = "soon", shoe_size = 9 }, fields, "x.yaml")
      local text = eval.format_problems(problems)
      assert.matches("x.yaml: /patient/date_of_birth: ", text, 1, true)
      assert.matches("x.yaml: /patient/shoe_size: not a field of the workflow's patient_schema", text, 1, true)
    end)
  end)
end)
