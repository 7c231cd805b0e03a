-- GET /api/meta: the platform's vocabulary as the web UI and other clients read it, against the
-- real sova api + FerretDB; and the stored call_status of a new patient is the label it names.
local helpers = require("helpers")
local vocabulary = require("sova.sandboxed.vocabulary")

describe("GET /api/meta #api", function()
  local api, alpha

  lazy_setup(function()
    local _
    _, api = helpers.setup()
    alpha = helpers.login_as(api, helpers.ALPHA)
  end)

  lazy_teardown(helpers.stop_all)

  it("answers the vocabulary module's document, without a token and on any host", function()
    for _, host in ipairs({ helpers.ALPHA.host, "nobody.localhost" }) do
      local res = helpers.http(api, "GET", "/api/meta", { host = host })
      assert.status(200, res)
      assert.truthy((res.headers["content-type"] or ""):find("application/json", 1, true))
      assert.same(vocabulary.document(), res.json)
    end
  end)

  it("lists each call status once, with its label, and the terminal ones marked", function()
    local res = helpers.http(api, "GET", "/api/meta")
    assert.status(200, res)
    local seen, terminal = {}, {}
    for _, s in ipairs(res.json.call_statuses) do
      assert.is_nil(seen[s.code], "twice: " .. s.code)
      seen[s.code] = s.label
      if s.terminal then terminal[#terminal + 1] = s.code end
    end
    assert.equal("No Answer", seen.no_answer)
    assert.equal("In Progress", seen.in_progress)
    table.sort(terminal)
    assert.same({ "busy", "canceled", "completed", "failed", "incomplete", "no_answer", "voicemail" }, terminal)
    assert.truthy(#res.json.system_fields > 0)
    assert.truthy(#res.json.session_events > 0)
  end)

  it("names the label a new patient's call_status is stored with", function()
    local res = helpers.http(api, "GET", "/api/meta")
    local not_started
    for _, s in ipairs(res.json.call_statuses) do
      if s.code == "not_started" then not_started = s.label end
    end
    res = helpers.http(api, "POST", "/api/workflows/prior_auth/patients",
      { host = helpers.ALPHA.host, token = alpha, body = helpers.valid_patient("prior_auth") })
    assert.status(201, res)
    assert.equal(not_started, res.json.call_status)
  end)

  it("answers 405 to other methods", function()
    assert.status(405, helpers.http(api, "POST", "/api/meta", { body = {} }))
  end)
end)
