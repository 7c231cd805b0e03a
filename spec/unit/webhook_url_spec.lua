-- sova.webhooks.url: where a clinic's webhooks may go. In production only https to public
-- addresses; hostile URLs (userinfo, odd schemes, shorthand and encoded IPv4, IPv6 forms that hide
-- loopback or private IPv4, names that resolve to the metadata address or to a mix of public and
-- private addresses) are refused with a reason. Outside production http and loopback / private
-- addresses are allowed, link-local and the rest still are not. Resolution is a stub here; the
-- real one (core.http.lookup) is in spec/core/http_client_spec.lua. Also the signature scheme.
-- Tags: #unit #webhooks
local url = require("sova.webhooks.url")
local webhooks = require("sova.webhooks")

-- a resolver that knows these names only
local DNS = {
  ["hooks.example.com"] = { "93.184.216.34" },
  ["v6.example.com"] = { "2606:4700:4700::1111" },
  ["metadata.example.com"] = { "169.254.169.254" },
  ["rebind.example.com"] = { "93.184.216.34", "10.0.0.5" },
  ["local.example.com"] = { "127.0.0.1" },
  ["mapped.example.com"] = { "::ffff:127.0.0.1" },
  ["ula.example.com"] = { "fd12:3456::1" },
  ["localhost"] = { "127.0.0.1", "::1" },
}
local function lookup(host)
  local a = DNS[host]
  if a then return a end
  return nil, "Name or service not known"
end

local function prod(u) return url.check(u, { production = true, lookup = lookup }) end
local function dev(u) return url.check(u, { production = false, lookup = lookup }) end

describe("webhook URLs in production #unit #webhooks", function()
  it("accepts https to a public name or address, and pins the name to the address it checked", function()
    local t = assert(prod("https://hooks.example.com/sova/events?clinic=7"))
    assert.equal("hooks.example.com", t.host)
    assert.equal(443, t.port)
    assert.equal("93.184.216.34", t.address)
    assert.equal("hooks.example.com:443:93.184.216.34", t.pin)
    t = assert(prod("https://HOOKS.example.com.:8443/x"))
    assert.equal("hooks.example.com:8443:93.184.216.34", t.pin)
    assert.equal("https://hooks.example.com:8443/x", t.request_url)
    t = assert(prod("https://v6.example.com/"))
    assert.equal("v6.example.com:443:[2606:4700:4700::1111]", t.pin)
    assert.truthy(prod("https://93.184.216.34/hook"))
    assert.truthy(prod("https://[2606:4700:4700::1111]:443/hook"))
    assert.is_nil(assert(prod("https://8.8.8.8/")).pin) -- a literal needs no pin
    -- a name with several addresses: all of them checked, all pinned
    DNS["two.example.com"] = { "93.184.216.34", "2606:4700:4700::1111" }
    t = assert(prod("https://two.example.com/"))
    assert.equal("two.example.com:443:93.184.216.34,[2606:4700:4700::1111]", t.pin)
    DNS["two.example.com"] = nil
  end)

  local HOSTILE = {
    -- schemes and shapes
    { "http://hooks.example.com/", "https is required" },
    { "ftp://hooks.example.com/", "only https" },
    { "file:///etc/passwd", "only https" },
    { "gopher://hooks.example.com/", "only https" },
    { "javascript:alert(1)", "absolute" },
    { "//hooks.example.com/", "absolute" },
    { "hooks.example.com/x", "absolute" },
    { "", "required" },
    { "https://", "no host" },
    { "https:///path", "no host" },
    { "https://user:pass@hooks.example.com/", "user names" },
    { "https://hooks.example.com@127.0.0.1/", "user names" },
    { "https://@hooks.example.com/", "user names" },
    { "https://hooks.example.com/#frag", "fragment" },
    { "https://hooks.example.com\\@127.0.0.1/", "backslash" },
    { "https://hooks.example.com /", "spaces" },
    { "https://hooks.example.com/\r\nX-Injected: 1", "control" },
    { "https://hooks.exa\0mple.com/", "control" },
    { "https://hööks.example.com/", "non-ASCII" },
    { "https://hooks.example.com:0/", "port" },
    { "https://hooks.example.com:65536/", "port" },
    { "https://hooks.example.com:/", "port" },
    { "https://hooks.example.com:443:1/", "port" },
    { "https://" .. string.rep("a", 2100) .. ".com/", "at most" },
    { "https://hooks_example.com/", "not a valid DNS name" },
    { "https://-hooks.example.com/", "not a valid DNS name" },
    { "https://hooks..example.com/", "not a valid DNS name" },
    { "https://%31%32%37.0.0.1/", "not a valid DNS name" },
    -- IPv4 literals that are not public
    { "https://127.0.0.1/", "loopback" },
    { "https://127.255.255.254/", "loopback" },
    { "https://10.1.2.3/", "private" },
    { "https://172.16.0.1/", "private" },
    { "https://172.31.255.255/", "private" },
    { "https://192.168.1.1/", "private" },
    { "https://169.254.169.254/latest/meta-data/", "link-local" },
    { "https://100.64.0.1/", "CGNAT" },
    { "https://100.127.255.255/", "CGNAT" },
    { "https://0.0.0.0/", "unspecified" },
    { "https://0.1.2.3/", "unspecified" },
    { "https://224.0.0.1/", "multicast" },
    { "https://239.255.255.250/", "multicast" },
    { "https://255.255.255.255/", "reserved" },
    { "https://240.0.0.1/", "reserved" },
    { "https://192.0.2.10/", "documentation" },
    { "https://198.18.0.1/", "benchmarking" },
    -- IPv4 written the ways resolvers accept and this refuses to guess at
    { "https://2130706433/", "not a valid DNS name" },
    { "https://0x7f000001/", "not a valid DNS name" },
    { "https://0x7f.0.0.1/", "not a valid DNS name" },
    { "https://0177.0.0.1/", "not a valid DNS name" },
    { "https://127.1/", "not a valid DNS name" },
    { "https://127.0.0.01/", "not a valid DNS name" },
    { "https://1.2.3.4.5/", "not a valid DNS name" },
    -- IPv6 literals
    { "https://[::1]/", "loopback" },
    { "https://[0:0:0:0:0:0:0:1]/", "loopback" },
    { "https://[::]/", "unspecified" },
    { "https://[::ffff:127.0.0.1]/", "loopback" },
    { "https://[::ffff:7f00:1]/", "loopback" },
    { "https://[::ffff:169.254.169.254]/", "link-local" },
    { "https://[::ffff:10.0.0.1]/", "private" },
    { "https://[64:ff9b::10.0.0.1]/", "private" },
    { "https://[::127.0.0.1]/", "IPv4-compatible" },
    { "https://[2002:7f00:1::1]/", "6to4" },
    { "https://[fc00::1]/", "private" },
    { "https://[fd12:3456::1]/", "private" },
    { "https://[fe80::1]/", "link-local" },
    { "https://[fe80::1%25eth0]/", "malformed IPv6" },
    { "https://[febf::1]/", "link-local" },
    { "https://[ff02::1]/", "multicast" },
    { "https://[2001:db8::1]/", "documentation" },
    { "https://[::1/", "malformed IPv6" },
    { "https://[1:2:3:4:5:6:7:8:9]/", "malformed IPv6" },
    { "https://[1::2::3]/", "malformed IPv6" },
    { "https://[::1]x/", "port" },
    -- names resolving where they may not go
    { "https://localhost/", "loopback" },
    { "https://local.example.com/", "loopback" },
    { "https://metadata.example.com/", "link-local" },
    { "https://rebind.example.com/", "private" },
    { "https://mapped.example.com/", "loopback" },
    { "https://ula.example.com/", "private" },
    { "https://nowhere.example.com/", "does not resolve" },
  }

  it("refuses each hostile URL with a reason (" .. #HOSTILE .. " cases)", function()
    for _, case in ipairs(HOSTILE) do
      local t, why = prod(case[1])
      assert(t == nil, ("%q was accepted"):format(case[1]))
      assert(type(why) == "string" and why:find(case[2], 1, true),
        ("%q: expected a reason with %q, got %q"):format(case[1], case[2], tostring(why)))
    end
  end)

  it("refuses what is not a string", function()
    for _, v in ipairs({ 42, true, {} }) do assert.is_nil((prod(v))) end
    assert.is_nil((prod(nil)))
  end)
end)

describe("webhook URLs outside production #unit #webhooks", function()
  it("allows http, loopback and private receivers (a developer's machine, the specs')", function()
    assert.truthy(dev("http://127.0.0.1:8080/hook"))
    assert.truthy(dev("http://localhost:9000/"))
    assert.truthy(dev("http://[::1]:9000/"))
    assert.truthy(dev("http://10.0.0.7/"))
    assert.truthy(dev("http://[fd12:3456::1]/"))
    assert.truthy(dev("https://hooks.example.com/"))
  end)

  it("still refuses link-local, metadata, unspecified, multicast, userinfo and odd schemes", function()
    for _, u in ipairs({ "http://169.254.169.254/", "http://metadata.example.com/", "http://0.0.0.0:80/",
      "http://[::]/", "http://[fe80::1]/", "http://224.0.0.1/", "http://u:p@127.0.0.1/", "ftp://127.0.0.1/",
      "http://2130706433/", "http://[::ffff:169.254.169.254]/" }) do
      assert.is_nil((dev(u)), u)
    end
  end)
end)

describe("webhook signatures #unit #webhooks", function()
  local SECRET = "whsec_" .. string.rep("ab", 32)
  local BODY = '{"id":"x","event":"ping","data":{}}'

  it("signs t.body with HMAC-SHA256 as t=<unix>,v1=<hex>, and verifies within 5 minutes", function()
    local h = webhooks.signature(SECRET, 1700000000, BODY)
    assert.truthy(h:match("^t=1700000000,v1=%x+$"))
    assert.equal(64, #h:match("v1=(%x+)"))
    assert.is_true(webhooks.verify(SECRET, h, BODY, 1700000000 + 299))
    assert.is_nil(webhooks.verify(SECRET, h, BODY, 1700000000 + 301))
    assert.is_nil(webhooks.verify(SECRET, h, BODY .. " ", 1700000000))
    assert.is_nil(webhooks.verify("whsec_other", h, BODY, 1700000000))
    assert.is_nil(webhooks.verify(SECRET, h:gsub("t=1700000000", "t=1700000001"), BODY, 1700000000))
    assert.is_nil(webhooks.verify(SECRET, nil, BODY, 1700000000))
  end)

  it("backs off 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, then gives up", function()
    local got = {}
    for n = 1, 7 do got[n] = webhooks.retry_in(n, 1) or false end
    assert.same({ 10, 60, 300, 1800, 7200, 21600, false }, got)
    assert.equal(0.1, webhooks.retry_in(1, 0.01))
  end)
end)
