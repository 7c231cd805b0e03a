-- The flows' neighbours: every client services.yaml validates (sova.services), and the engine's
-- model requests encode as OpenAI Chat Completions bodies (sova.llm.openai), so the OpenAI
-- adapter plugs in where the rules engine stands in the specs.
local S = require("flows.support")
local cjson = require("cjson")
local rules = require("sova.llm.rules")

local CLIENTS = {
  { "demo_clinic_alpha", "prior_auth" },
  { "demo_clinic_alpha", "patient_questions" },
  { "demo_clinic_beta", "patient_questions" },
}

local services = require("sova.services")
local openai = require("sova.llm.openai")

describe("flow interfaces #flows", function()
  for _, c in ipairs(CLIENTS) do
    local path = "clients/" .. c[1] .. "/" .. c[2] .. "/services.yaml"
    it(path .. " validates and names secrets only through environment variables", function()
      local cfg, problems = services.load(path)
      assert.is_table(cfg, problems and cjson.encode(problems))
      assert.is_nil(problems)
      assert.matches("^[A-Z][A-Z0-9_]*$", cfg.llm.api_key_env)
      assert.are.equal("openai", cfg.llm.configured_provider)
    end)
  end

  it("every request of a whole call encodes as an OpenAI request body, tool results after their calls", function()
    local client = openai.new { model = "gpt-4o-mini", api_key = "test-key-not-used" }
    local recorder = rules.new()
    local bodies = {}
    local respond = recorder.respond
    function recorder:respond(req)
      bodies[#bodies + 1] = cjson.decode(client:body(req))
      return respond(self, req)
    end
    local call = S.call("demo_clinic_alpha", "prior_auth", nil, { llm = recorder })
    S.script(call, { "What's the member ID?", "Please hold.", "Thanks for holding.", "It's approved.",
                     "Reference AUTH 123456.", "Yes." })
    assert.are.equal("completed", call.status)
    assert.is_true(#bodies >= 6)
    local last = bodies[#bodies]
    assert.are.equal("system", last.messages[1].role)
    assert.are.equal("function", last.tools[1].type)
    for _, t in ipairs(last.tools) do
      assert.is_nil(t["function"].rules)
      assert.are.equal("object", t["function"].parameters.type)
    end
    for _, body in ipairs(bodies) do
      for i, m in ipairs(body.messages) do
        if type(m.tool_calls) == "table" then
          for k, tc in ipairs(m.tool_calls) do
            assert.are.equal("tool", body.messages[i + k].role)
            assert.are.equal(tc.id, body.messages[i + k].tool_call_id)
            assert.are.equal("string", type(tc["function"].arguments))
          end
        end
      end
    end
  end)
end)
