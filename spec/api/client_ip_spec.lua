-- The client's address in the audit trail behind a proxy: X-Forwarded-For only from a proxy
-- named in SOVA_TRUSTED_PROXIES, an edge's own header (SOVA_CLIENT_IP_HEADER, Fly's
-- Fly-Client-IP) when one is named, and the TCP peer whenever what was sent is no address.
-- Tags: #api #audit
local helpers = require("helpers")

local function audited_ip(db, api, email, headers)
  local res = helpers.http(api, "POST", "/api/auth/login", { body = { email = email, password = "wrong password" },
    headers = headers })
  assert.equal(401, res.status, res.body)
  local rec = helpers.wait_until(function()
    return db:handle():find_one("audit_logs", { event_type = "login", email = email })
  end, 10, 0.1)
  return rec.ip_address
end

describe("the client's address #api #audit", function()
  local db, proxied, edged, plain

  lazy_setup(function()
    db = helpers.start_db()
    helpers.seed(db)
    plain = helpers.start_api(db)
    proxied = helpers.start_api(db, { env = { SOVA_TRUSTED_PROXIES = "127.0.0.1" } })
    edged = helpers.start_api(db, { env = { SOVA_CLIENT_IP_HEADER = "Fly-Client-IP" } })
  end)
  lazy_teardown(helpers.stop_all)

  it("is the peer when no proxy is trusted, whatever the headers claim", function()
    assert.equal("127.0.0.1", audited_ip(db, plain, "a1@example.com",
      { ["X-Forwarded-For"] = "203.0.113.7", ["Fly-Client-IP"] = "203.0.113.8" }))
  end)

  it("is the entry a trusted proxy appended last", function()
    assert.equal("203.0.113.7", audited_ip(db, proxied, "b1@example.com",
      { ["X-Forwarded-For"] = "198.51.100.1, 203.0.113.7" }))
    assert.equal("127.0.0.1", audited_ip(db, proxied, "b2@example.com",
      { ["X-Forwarded-For"] = "203.0.113.7, <script>" }))
  end)

  it("is the edge's header when one is named, and never an X-Forwarded-For", function()
    assert.equal("2001:db8::5", audited_ip(db, edged, "c1@example.com",
      { ["Fly-Client-IP"] = "2001:db8::5", ["X-Forwarded-For"] = "203.0.113.7" }))
    assert.equal("127.0.0.1", audited_ip(db, edged, "c2@example.com", { ["X-Forwarded-For"] = "203.0.113.7" }))
    assert.equal("127.0.0.1", audited_ip(db, edged, "c3@example.com", { ["Fly-Client-IP"] = "not an address" }))
  end)
end)
