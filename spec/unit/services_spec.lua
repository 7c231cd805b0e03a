-- Specs of sova.services (lua/sova/services.lua) and schemas/services.schema.json: a flow's
-- services.yaml is read, decoded (core.yaml), validated, scanned for pasted secrets, and the
-- language model resolved — openai when its key variable is set, else the offline rules engine
-- with a note. Files are written to a scratch directory under .test-runs/.
-- Run: busted spec/unit/services_spec.lua
local services = require("sova.services")
local config = require("sova.config")
local proc = require("helpers.proc")

local function env(vars)
  return function(name) return vars[name] end
end

describe("sova.services #unit", function()
  local dir

  lazy_setup(function() dir = proc.temp_dir("services") end)
  lazy_teardown(function() proc.cleanup() end)

  local n = 0
  local function file(text)
    n = n + 1
    local path = dir .. "/services-" .. n .. ".yaml"
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    return path
  end

  local function load(text, vars)
    return services.load(file(text), { getenv = env(vars or {}) })
  end

  local function problems_of(text, vars)
    local cfg, problems = load(text, vars)
    assert.is_nil(cfg)
    assert.is_table(problems)
    return problems
  end

  local function has_problem(problems, path, message)
    for _, p in ipairs(problems) do
      if p.path == path and (message == nil or p.message == message) then return true end
    end
    return false
  end

  local OPENAI = [[
llm:
  provider: openai
  model: gpt-4o-mini
  temperature: 0.2
  timeout_ms: 8000
stt: {provider: none}
tts: {provider: espeak, voice: en-us}
telephony: {provider: none}
]]

  describe("the language model", function()
    it("uses openai when the key variable is set", function()
      local cfg, problems = load(OPENAI, { OPENAI_API_KEY = "sk-live" })
      assert.is_nil(problems)
      assert.equal("openai", cfg.llm.provider)
      assert.equal("openai", cfg.llm.configured_provider)
      assert.equal("OPENAI_API_KEY", cfg.llm.api_key_env)
      assert.equal("gpt-4o-mini", cfg.llm.model)
      assert.equal(0.2, cfg.llm.temperature)
      assert.is_nil(cfg.fallback)
      assert.is_nil(cfg.llm.fallback)
    end)

    it("falls back to the offline rules engine, and says so, when OPENAI_API_KEY is unset", function()
      local cfg = assert(load(OPENAI, {}))
      assert.equal("rules", cfg.llm.provider)
      assert.equal("openai", cfg.llm.configured_provider)
      assert.equal("no OPENAI_API_KEY set: using the offline rules engine", cfg.fallback)
      assert.equal(cfg.fallback, cfg.llm.fallback)
    end)

    it("counts an empty key variable as unset", function()
      local cfg = assert(load(OPENAI, { OPENAI_API_KEY = "" }))
      assert.equal("rules", cfg.llm.provider)
    end)

    it("names the variable given in api_key_env in the note", function()
      local cfg = assert(load("llm: {provider: openai, model: llama-3.1-8b-instant, base_url: 'https://api.groq.com/openai/v1', "
        .. "api_key_env: GROQ_API_KEY}\n", { OPENAI_API_KEY = "sk-x" }))
      assert.equal("rules", cfg.llm.provider)
      assert.equal("no GROQ_API_KEY set: using the offline rules engine", cfg.fallback)
    end)

    it("needs no key for a compatible server at a base_url without api_key_env", function()
      local cfg = assert(load("llm: {provider: openai, model: 'llama3.1:8b', base_url: 'http://127.0.0.1:11434/v1'}\n",
        { OPENAI_API_KEY = "sk-must-not-travel" }))
      assert.equal("openai", cfg.llm.provider)
      assert.is_nil(cfg.fallback)
      assert.is_nil(cfg.llm.api_key_env)
      local opts = services.llm_options(cfg, env({ OPENAI_API_KEY = "sk-must-not-travel" }))
      assert.is_nil(opts.api_key) -- the OpenAI key is not sent to another server
      assert.equal("http://127.0.0.1:11434/v1", opts.base_url)
      assert.equal("llama3.1:8b", opts.model)
    end)

    it("uses rules, with no note, when the file asks for rules", function()
      local cfg = assert(load("llm: {provider: rules}\n"))
      assert.equal("rules", cfg.llm.provider)
      assert.is_nil(cfg.fallback)
      assert.is_nil(services.llm_options(cfg))
    end)

    it("gives llm_options with the key read from the environment at that moment", function()
      local cfg = assert(load(OPENAI, { OPENAI_API_KEY = "sk-live" }))
      local opts = services.llm_options(cfg, env({ OPENAI_API_KEY = "sk-rotated" }))
      assert.same({ model = "gpt-4o-mini", api_key = "sk-rotated", temperature = 0.2, timeout_ms = 8000 }, opts)
    end)

    it("keeps the key itself out of the configuration", function()
      local cfg = assert(load(OPENAI, { OPENAI_API_KEY = "sk-live-secret" }))
      local text = require("sova.json").encode(cfg)
      assert.is_nil(text:find("sk-live-secret", 1, true))
    end)
  end)

  describe("defaults", function()
    it("sets stt, tts and telephony to none when they are absent", function()
      local cfg = assert(load("llm: {provider: rules}\n"))
      assert.same({ provider = "none" }, cfg.stt)
      assert.same({ provider = "none" }, cfg.tts)
      assert.same({ provider = "none" }, cfg.telephony)
    end)

    it("keeps every provider setting it was given", function()
      local cfg = assert(load([[
llm: {provider: rules}
stt: {provider: deepgram, model: nova-2, api_key_env: DEEPGRAM_API_KEY}
tts: {provider: cartesia, voice: a0e99841-438c-4a64-b679-ae501e7d6091, api_key_env: CARTESIA_API_KEY}
telephony: {provider: twilio, to_field: phone_number, account_sid_env: TWILIO_ACCOUNT_SID, auth_token_env: TWILIO_AUTH_TOKEN, from_number_env: TWILIO_FROM}
]]))
      assert.equal("deepgram", cfg.stt.provider)
      assert.equal("nova-2", cfg.stt.model)
      assert.equal("DEEPGRAM_API_KEY", cfg.stt.api_key_env)
      assert.equal("a0e99841-438c-4a64-b679-ae501e7d6091", cfg.tts.voice)
      assert.equal("TWILIO_AUTH_TOKEN", cfg.telephony.auth_token_env)
    end)
  end)

  describe("telephony", function()
    local TWILIO = "llm: {provider: rules}\ntelephony: {provider: twilio, to_field: insurance_phone}\n"
    local SID = "AC" .. string.rep("0123456789abcdef", 2)
    local ACCOUNT = { TWILIO_ACCOUNT_SID = SID, TWILIO_AUTH_TOKEN = "tok", TWILIO_FROM_NUMBER = "+15165550100" }

    it("gives no telephony options without a provider, and says why", function()
      local opts, why = services.telephony_options(assert(load("llm: {provider: rules}\n")))
      assert.is_nil(opts)
      assert.equal("telephony is not configured", why)
      opts, why = services.telephony_options(assert(load("llm: {provider: rules}\ntelephony: {provider: none}\n")))
      assert.is_nil(opts)
      assert.equal("telephony is not configured", why)
    end)

    it("fills the limits and the variables' names it was not given", function()
      assert.same({ provider = "twilio", to_field = "insurance_phone", ring_seconds = 30, max_call_seconds = 3600,
                    voicemail = false, account_sid_env = "TWILIO_ACCOUNT_SID", auth_token_env = "TWILIO_AUTH_TOKEN",
                    from_number_env = "TWILIO_FROM_NUMBER" },
        services.telephony_options(assert(load(TWILIO))))
    end)

    it("keeps the file's limits, voicemail and variable names", function()
      local opts = services.telephony_options(assert(load([[
llm: {provider: rules}
telephony: {provider: twilio, to_field: phone_number, ring_seconds: 5, max_call_seconds: 14400, voicemail: true,
            from_number_env: BETA_TWILIO_FROM_NUMBER}
]])))
      assert.same({ "phone_number", 5, 14400, true, "BETA_TWILIO_FROM_NUMBER", "TWILIO_ACCOUNT_SID" },
        { opts.to_field, opts.ring_seconds, opts.max_call_seconds, opts.voicemail, opts.from_number_env,
          opts.account_sid_env })
    end)

    it("needs to_field for twilio and keeps the limits within range", function()
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\ntelephony: {provider: twilio}\n"), "/telephony/to_field"))
      for _, bad in ipairs({ "to_field: x, ring_seconds: 4", "to_field: x, ring_seconds: 121",
                             "to_field: x, max_call_seconds: 59", "to_field: x, max_call_seconds: 14401",
                             "to_field: x, ring_seconds: 2.5", "to_field: x, voicemail: yes please",
                             "to_field: Insurance-Phone" }) do
        local problems = problems_of("llm: {provider: rules}\ntelephony: {provider: twilio, " .. bad .. "}\n")
        local path = "/telephony/" .. bad:match("([%w_]+): [^,]*$")
        assert.is_true(has_problem(problems, path), bad)
      end
    end)

    it("reads the credentials from the variables named, at that moment", function()
      local opts = services.telephony_options(assert(load(TWILIO)))
      assert.same({ account_sid = SID, auth_token = "tok", from = "+15165550100" },
        services.telephony_credentials(opts, env(ACCOUNT)))
    end)

    it("names every unset variable, and never a value", function()
      local opts = services.telephony_options(assert(load(TWILIO)))
      local creds, why = services.telephony_credentials(opts, env({ TWILIO_AUTH_TOKEN = "tok", TWILIO_FROM_NUMBER = "" }))
      assert.is_nil(creds)
      assert.equal("phone calls need TWILIO_ACCOUNT_SID, TWILIO_FROM_NUMBER set", why)
    end)

    it("refuses an account SID or a caller ID of the wrong shape, naming the variable only", function()
      local opts = services.telephony_options(assert(load(TWILIO)))
      for _, case in ipairs({
        { TWILIO_ACCOUNT_SID = "SK" .. SID:sub(3), var = "TWILIO_ACCOUNT_SID" },
        { TWILIO_ACCOUNT_SID = SID .. "0", var = "TWILIO_ACCOUNT_SID" },
        { TWILIO_ACCOUNT_SID = "AC" .. string.rep("g", 32), var = "TWILIO_ACCOUNT_SID" },
        { TWILIO_FROM_NUMBER = "5165550100", var = "TWILIO_FROM_NUMBER" },
        { TWILIO_FROM_NUMBER = "+1 516 555 0100", var = "TWILIO_FROM_NUMBER" },
        { TWILIO_FROM_NUMBER = "+1516555010012345", var = "TWILIO_FROM_NUMBER" },
      }) do
        local vars = {}
        for k, v in pairs(ACCOUNT) do vars[k] = v end
        for k, v in pairs(case) do if k ~= "var" then vars[k] = v end end
        local creds, why = services.telephony_credentials(opts, env(vars))
        assert.is_nil(creds)
        assert.matches("^" .. case.var .. " does not hold ", why)
        for k, v in pairs(case) do if k ~= "var" then assert.is_nil(why:find(v, 1, true)) end end
      end
    end)

    it("names each workflow's number field and Beta's own caller ID", function()
      local root = config.root_dir() .. "/clients/"
      local function opts(wf) return services.telephony_options(assert(services.load(root .. wf .. "/services.yaml", { getenv = env({}) }))) end
      assert.same({ "insurance_phone", false }, { opts("demo_clinic_alpha/prior_auth").to_field, opts("demo_clinic_alpha/prior_auth").voicemail })
      assert.same({ "phone_number", true }, { opts("demo_clinic_alpha/patient_questions").to_field, opts("demo_clinic_alpha/patient_questions").voicemail })
      local beta = opts("demo_clinic_beta/patient_questions")
      assert.same({ "phone_number", true, "BETA_TWILIO_FROM_NUMBER" }, { beta.to_field, beta.voicemail, beta.from_number_env })
    end)
  end)

  describe("speech engines", function()
    local CLOUD = "llm: {provider: rules}\nstt: {provider: deepgram, model: nova-2}\n"
      .. "tts: {provider: cartesia, voice: sonic-voice, api_key_env: ALPHA_CARTESIA}\n"

    it("uses the cloud providers when their key variables are set, and reads the keys only when asked", function()
      local vars = { DEEPGRAM_API_KEY = "dg-test-key", ALPHA_CARTESIA = "ca-test-key" }
      local cfg = assert(load(CLOUD, vars))
      assert.equal("deepgram", cfg.stt.engine)
      assert.equal("DEEPGRAM_API_KEY", cfg.stt.api_key_env) -- the provider's usual variable
      assert.equal("cartesia", cfg.tts.engine)
      assert.is_nil(cfg.stt.fallback)
      assert.is_nil(cfg.stt.api_key) -- the loaded config holds names, never keys
      local speech = assert(services.speech_options(cfg, env(vars)))
      assert.same({ engine = "deepgram", model = "nova-2", api_key = "dg-test-key" }, speech.stt)
      assert.same({ engine = "cartesia", voice = "sonic-voice", api_key = "ca-test-key" }, speech.tts)
      assert.same({}, speech.notes)
    end)

    it("falls back to the offline engines without keys, and says so", function()
      local cfg = assert(load(CLOUD, {}))
      assert.equal("pocketsphinx", cfg.stt.engine)
      assert.equal("flite", cfg.tts.engine)
      local speech = assert(services.speech_options(cfg, env({})))
      assert.same({ engine = "pocketsphinx" }, speech.stt) -- no cloud model or voice given to it
      assert.same({ engine = "flite" }, speech.tts)
      assert.same({ "no DEEPGRAM_API_KEY set: using the offline pocketsphinx",
        "no ALPHA_CARTESIA set: using the offline flite" }, speech.notes)
    end)

    it("runs whisper as pocketsphinx and keeps the offline engines' own settings", function()
      local cfg = assert(load("llm: {provider: rules}\nstt: {provider: whisper}\ntts: {provider: espeak, voice: en-us}\n"))
      assert.equal("pocketsphinx", cfg.stt.engine)
      assert.equal("whisper has no engine here: using the offline pocketsphinx", cfg.stt.fallback)
      local speech = assert(services.speech_options(cfg, env({})))
      assert.same({ engine = "espeak", voice = "en-us" }, speech.tts)
    end)

    it("has no voice calls without speech providers", function()
      local cfg = assert(load("llm: {provider: rules}\n"))
      local speech, why = services.speech_options(cfg, env({}))
      assert.is_nil(speech)
      assert.equal("this workflow's services.yaml has no stt provider: its calls are text only", why)
    end)

    it("fills turn-taking defaults and checks their order", function()
      local cfg = assert(load("llm: {provider: rules}\n"))
      assert.same({ vad = "energy", min_silence_ms = 500, max_silence_ms = 2000,
        barge_in = { enabled = true, min_ms = 400, min_words = 2 } }, cfg.voice)
      cfg = assert(load("llm: {provider: rules}\nvoice: {min_silence_ms: 2500, barge_in: {enabled: false}}\n"))
      assert.equal(2500, cfg.voice.max_silence_ms) -- never below the minimum
      assert.is_false(cfg.voice.barge_in.enabled)
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\nvoice: {min_silence_ms: 900, max_silence_ms: 600}\n"),
        "/voice/max_silence_ms", "max_silence_ms must be at least min_silence_ms"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\nvoice: {vad: magic}\n"), "/voice/vad"))
    end)
  end)

  describe("validation", function()
    it("requires llm, and a model for openai", function()
      assert.is_true(has_problem(problems_of("stt: {provider: none}\n"), "/llm", "is required"))
      assert.is_true(has_problem(problems_of("llm: {provider: openai}\n"), "/llm/model", "is required"))
    end)

    it("refuses unknown providers", function()
      assert.is_true(has_problem(problems_of("llm: {provider: anthropic, model: x}\n"), "/llm/provider",
        "must be one of: rules, openai"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\ntts: {provider: polly}\n"), "/tts/provider",
        "must be one of: none, cartesia, elevenlabs, flite, espeak"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\nstt: {provider: google}\n"), "/stt/provider"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\ntelephony: {provider: vonage}\n"), "/telephony/provider"))
    end)

    it("refuses a property holding a secret value, without repeating the value", function()
      local key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
      local problems = problems_of("llm: {provider: openai, model: gpt-4o-mini, api_key: " .. key .. "}\n")
      assert.is_true(has_problem(problems, "/llm/api_key", "is not allowed"))
      assert.is_nil(services.format_problems(problems):find(key, 1, true))
      problems = problems_of("llm: {provider: rules}\ntelephony: {provider: twilio, auth_token: abc}\n")
      assert.is_true(has_problem(problems, "/telephony/auth_token", "is not allowed"))
    end)

    it("refuses a secret pasted into a name field", function()
      local key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"
      local problems = problems_of("llm: {provider: openai, model: " .. key .. "}\n")
      assert.is_true(has_problem(problems, "/llm/model"))
      assert.matches("^looks like a secret value", problems[#problems].message)
      assert.is_nil(services.format_problems(problems):find(key, 1, true))
      local token = "0123456789abcdef0123456789abcdef"
      problems = problems_of("llm: {provider: rules}\ntts: {provider: elevenlabs, voice: " .. token .. "}\n")
      assert.is_true(has_problem(problems, "/tts/voice"))
      assert.is_nil(services.format_problems(problems):find(token, 1, true))
    end)

    it("refuses a secret pasted where an environment variable's name belongs", function()
      local problems = problems_of("llm: {provider: openai, model: m, api_key_env: sk-abcdefghijklmnop}\n")
      assert.is_true(has_problem(problems, "/llm/api_key_env", "must match the pattern ^[A-Z][A-Z0-9_]*$"))
    end)

    it("requires environment variable names to be upper case", function()
      for _, bad in ipairs({ "openai_api_key", "1KEY", "MY-KEY", "KEY NAME" }) do
        local problems = problems_of("llm: {provider: rules}\nstt: {provider: deepgram, api_key_env: '" .. bad .. "'}\n")
        assert.is_true(has_problem(problems, "/stt/api_key_env"), bad)
      end
    end)

    it("refuses a base_url carrying credentials or a query string", function()
      for _, url in ipairs({ "https://user:pass@api.example.com/v1", "https://api.example.com/v1?key=abc",
        "ftp://api.example.com", "api.example.com/v1" }) do
        local problems = problems_of("llm: {provider: openai, model: m, base_url: '" .. url .. "'}\n")
        assert.is_true(has_problem(problems, "/llm/base_url"), url)
      end
    end)

    it("checks temperature and timeout_ms ranges", function()
      assert.is_true(has_problem(problems_of("llm: {provider: rules, temperature: 2.5}\n"), "/llm/temperature",
        "must be at most 2"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules, timeout_ms: 1.5}\n"), "/llm/timeout_ms",
        "must be an integer"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules, timeout_ms: 10}\n"), "/llm/timeout_ms",
        "must be at least 100"))
    end)

    it("refuses unknown sections and settings", function()
      assert.is_true(has_problem(problems_of("llm: {provider: rules}\nvision: {provider: x}\n"), "/vision", "is not allowed"))
      assert.is_true(has_problem(problems_of("llm: {provider: rules, top_p: 1}\n"), "/llm/top_p", "is not allowed"))
    end)

    it("reports every problem of a file at once, each with the file", function()
      local cfg, problems = load("llm: {provider: openai}\ntts: {provider: polly}\nextra: 1\n")
      assert.is_nil(cfg)
      assert.equal(3, #problems)
      for _, p in ipairs(problems) do assert.matches("services%-%d+%.yaml$", p.file) end
    end)
  end)

  describe("files", function()
    it("reports YAML syntax errors with the file and line", function()
      local problems = problems_of("llm:\n  provider: rules\n bad: indent\n")
      assert.equal(1, #problems)
      assert.equal(3, problems[1].line)
      assert.matches("^line 3: ", problems[1].message)
      assert.matches("services%-%d+%.yaml: line 3: ", services.format_problems(problems))
    end)

    it("refuses YAML anchors and aliases", function()
      local problems = problems_of("base: &b {provider: rules}\nllm: *b\n")
      assert.matches("anchors", problems[1].message)
    end)

    it("reports a missing file", function()
      local cfg, problems = services.load(dir .. "/nope.yaml")
      assert.is_nil(cfg)
      assert.matches("^cannot read the file", problems[1].message)
    end)

    it("refuses a file that is not a mapping", function()
      local problems = problems_of("- llm\n- stt\n")
      assert.equal("must be a mapping with llm, stt, tts and telephony", problems[1].message)
    end)

    it("formats problems on one line", function()
      local problems = problems_of("llm: {provider: openai}\n")
      assert.matches("services%-%d+%.yaml: /llm/model: is required$", services.format_problems(problems))
    end)

    it("accepts every services.yaml under clients/", function()
      local root = config.root_dir()
      local p = io.popen(proc.shell_prefix() .. "find " .. proc.shell_quote(root .. "/clients")
        .. " -name services.yaml 2>/dev/null")
      local found = {}
      for line in p:lines() do found[#found + 1] = line end
      p:close()
      assert.is_true(#found >= 3, "the three client workflows' services.yaml were not found under " .. root)
      for _, path in ipairs(found) do
        local cfg, problems = services.load(path, { getenv = env({}) })
        assert(cfg, path .. ": " .. services.format_problems(problems))
      end
    end)
  end)
end)
