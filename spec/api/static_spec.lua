-- The built web UI served by `sova api` on its own port (a fixture dist here). Tags: #api
local helpers = require("helpers")

describe("the web UI from sova api #api", function()
  local api
  lazy_setup(function()
    local db
    db, api = helpers.setup({ api = { env = { SOVA_FRONTEND_DIR = helpers.proc.root .. "/spec/fixtures/static" } } })
  end)
  lazy_teardown(helpers.stop_all)

  it("serves index.html at / with a content security policy", function()
    local res = helpers.http(api, "GET", "/")
    assert.status(200, res)
    assert.matches("^text/html", res.headers["content-type"])
    assert.matches("Sova test page", res.body, 1, true)
    assert.matches("default-src 'self'", res.headers["content-security-policy"], 1, true)
    assert.equal("no-store", res.headers["cache-control"])
  end)

  it("answers the app's own routes with index.html, so a tab can be reloaded", function()
    local res = helpers.http(api, "GET", "/w/prior_auth/patients")
    assert.status(200, res)
    assert.matches("Sova test page", res.body, 1, true)
  end)

  it("serves assets with their type, and a missing asset is a 404", function()
    local res = helpers.http(api, "GET", "/assets/app.js")
    assert.status(200, res)
    assert.matches("^text/javascript", res.headers["content-type"])
    assert.status(404, helpers.http(api, "GET", "/assets/missing.js"))
  end)

  it("never serves files outside the built UI", function()
    for _, path in ipairs({ "/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/assets/../../README.md" }) do
      local res = helpers.http(api, "GET", path)
      assert.is_falsy(res.body:find("root:", 1, true))
      assert.is_falsy(res.body:find("scripts/run", 1, true))
    end
  end)

  it("keeps /api/* JSON: an unknown API path is a JSON 404, not the page", function()
    local res = helpers.http(api, "GET", "/api/nope")
    assert.status(404, res)
    assert.equal("not_found", res.json.error.code)
  end)
end)
