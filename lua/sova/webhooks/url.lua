-- sova.webhooks.url: which URLs a clinic's webhooks may be sent to. One rule, used when an
-- endpoint is saved and again before every delivery (the name may resolve elsewhere by then):
--   * https only in production (SOVA_ENV=production); http too in development;
--   * no userinfo (user:pass@), no fragment, no backslash, no control characters or spaces;
--   * a host that is a DNS name (its last label starts with a letter, which rules out the
--     shorthand IPv4 forms resolvers accept: 2130706433, 0x7f.1, 0177.0.0.1), a dotted quad, or a
--     bracketed IPv6 address without a zone;
--   * every address the host is or resolves to is public: not loopback, private (10/8,
--     172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, the cloud metadata address,
--     fe80::/10), shared CGNAT (100.64/10), unspecified (0/8, ::), multicast, reserved,
--     documentation or benchmarking ranges, and IPv4 hidden in IPv6 (::ffff:a.b.c.d, NAT64,
--     6to4) is judged as the IPv4 it holds. Outside production, loopback and private addresses
--     are allowed (a receiver on the developer's machine or network, the specs' on 127.0.0.1);
--     link-local, multicast and the rest never are.
-- The delivery connects to the address checked here and to no other (sova.webhooks.worker pins it
-- with core.http.request's resolve), so DNS rebinding between the check and the send gains nothing.
local M = {}

M.MAX_LENGTH = 2048

-- ---- addresses ----

local function v4_octets(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local out = {}
  for i, part in ipairs({ a, b, c, d }) do
    if #part > 1 and part:sub(1, 1) == "0" then return nil end -- "010" is octal to some parsers
    local n = tonumber(part)
    if n > 255 then return nil end
    out[i] = n
  end
  return out
end
M.v4_octets = v4_octets

-- IPv4 ranges that are not the public internet: {first octets..., prefix length, kind}
local V4 = {
  { 0, 0, 0, 0, 8, "unspecified" },
  { 10, 0, 0, 0, 8, "private" },
  { 100, 64, 0, 0, 10, "shared (CGNAT)" },
  { 127, 0, 0, 0, 8, "loopback" },
  { 169, 254, 0, 0, 16, "link-local" },
  { 172, 16, 0, 0, 12, "private" },
  { 192, 0, 0, 0, 24, "reserved" },
  { 192, 0, 2, 0, 24, "documentation" },
  { 192, 88, 99, 0, 24, "reserved" },
  { 192, 168, 0, 0, 16, "private" },
  { 198, 18, 0, 0, 15, "benchmarking" },
  { 198, 51, 100, 0, 24, "documentation" },
  { 203, 0, 113, 0, 24, "documentation" },
  { 224, 0, 0, 0, 4, "multicast" },
  { 240, 0, 0, 0, 4, "reserved" },
}

local function v4_value(o) return ((o[1] * 256 + o[2]) * 256 + o[3]) * 256 + o[4] end

-- the kind of a non-public IPv4 address ({4 octets}), or nil when it is public
local function v4_kind(o)
  local v = v4_value(o)
  for _, r in ipairs(V4) do
    local size = 2 ^ (32 - r[5])
    local base = v4_value(r)
    if v >= base and v < base + size then return r[6] end
  end
  return nil
end

-- "2001:db8::1" -> {8 numbers of 16 bits} | nil; a dotted quad may end it ("::ffff:1.2.3.4")
local function v6_groups(s)
  if s:find("%%") or not s:match("^[%x:%.]+$") then return nil end
  local tail = {}
  local quad = s:match(":(%d+%.%d+%.%d+%.%d+)$")
  if quad then
    local o = v4_octets(quad)
    if not o then return nil end
    s = s:sub(1, #s - #quad) .. "0:0" -- two groups' place, filled below
    tail = { o[1] * 256 + o[2], o[3] * 256 + o[4] }
  end
  local head, rest = s:match("^(.-)::(.*)$")
  local function split(part)
    local out = {}
    if part == "" then return out end
    for g in (part .. ":"):gmatch("([^:]*):") do
      if not g:match("^%x%x?%x?%x?$") then return nil end
      out[#out + 1] = tonumber(g, 16)
    end
    return out
  end
  local groups
  if head then
    if rest:find("::", 1, true) then return nil end
    local a, b = split(head), split(rest)
    if not a or not b or #a + #b > 7 then return nil end
    groups = a
    for _ = 1, 8 - #a - #b do groups[#groups + 1] = 0 end
    for _, g in ipairs(b) do groups[#groups + 1] = g end
  else
    groups = split(s)
    if not groups or #groups ~= 8 then return nil end
  end
  if quad then groups[7], groups[8] = tail[1], tail[2] end
  return groups
end
M.v6_groups = v6_groups

local function embedded_v4(g, at)
  return { math.floor(g[at] / 256), g[at] % 256, math.floor(g[at + 1] / 256), g[at + 1] % 256 }
end

-- the kind of a non-public IPv6 address (its groups), or nil when it is public
local function v6_kind(g)
  local zero6 = g[1] == 0 and g[2] == 0 and g[3] == 0 and g[4] == 0 and g[5] == 0
  if zero6 and g[6] == 0 then
    if g[7] == 0 and g[8] == 0 then return "unspecified" end
    if g[7] == 0 and g[8] == 1 then return "loopback" end
    return "IPv4-compatible" -- ::a.b.c.d, deprecated: never a real destination
  end
  if zero6 and g[6] == 0xffff then return v4_kind(embedded_v4(g, 7)) end -- IPv4-mapped
  if g[1] == 0x64 and g[2] == 0xff9b then return v4_kind(embedded_v4(g, 7)) or "NAT64" end
  if g[1] == 0x2002 then return "6to4" end
  if g[1] == 0x2001 and g[2] < 0x200 then return "reserved" end -- 2001::/23 (Teredo, ORCHID...)
  if g[1] == 0x2001 and g[2] == 0xdb8 then return "documentation" end
  if g[1] == 0x100 and g[2] == 0 and g[3] == 0 and g[4] == 0 then return "discard" end
  if g[1] >= 0xfc00 and g[1] <= 0xfdff then return "private" end -- fc00::/7
  if g[1] >= 0xfe80 and g[1] <= 0xfebf then return "link-local" end
  if g[1] >= 0xfec0 and g[1] <= 0xfeff then return "site-local" end
  if g[1] >= 0xff00 then return "multicast" end
  if g[1] < 0x2000 or g[1] > 0x3fff then return "reserved" end -- outside global unicast 2000::/3
  return nil
end

-- kind(address) -> nil (public) | the kind of a non-public address | "not an address"
function M.kind(addr)
  if type(addr) ~= "string" then return "not an address" end
  local o = v4_octets(addr)
  if o then return v4_kind(o) end
  local g = v6_groups(addr)
  if g then return v6_kind(g) end
  return "not an address"
end

-- may a delivery go to addr? true | nil, why
function M.address_ok(addr, production)
  local k = M.kind(addr)
  if k == nil then return true end
  if not production and (k == "loopback" or k == "private") then return true end
  return nil, ("%s resolves to a %s address"):format(addr, k)
end

-- ---- URLs ----

local DEFAULT_PORT = { http = 80, https = 443 }

-- parse(url) -> {scheme, host, port, literal = "v4"|"v6"|nil, rest} | nil, why (no resolution)
function M.parse(url, production)
  if type(url) ~= "string" or url == "" then return nil, "a URL is required" end
  if #url > M.MAX_LENGTH then return nil, ("at most %d characters"):format(M.MAX_LENGTH) end
  if url:find("[%z\1-\32\127-\255]") then return nil, "spaces, control and non-ASCII characters are not allowed" end
  if url:find("\\", 1, true) then return nil, "backslashes are not allowed" end
  if url:find("#", 1, true) then return nil, "a fragment (#...) is not allowed" end
  local scheme, after = url:match("^([%a][%w+.-]*)://(.*)$")
  if not scheme then return nil, "an absolute http(s) URL is required" end
  scheme = scheme:lower()
  if scheme ~= "https" and scheme ~= "http" then return nil, "only https URLs are allowed" end
  if scheme == "http" and production then return nil, "https is required in production" end
  local authority, rest = after:match("^([^/?]*)(.*)$")
  if authority:find("@", 1, true) then return nil, "user names and passwords in the URL are not allowed" end
  if authority == "" then return nil, "the URL names no host" end
  local host, port, literal
  if authority:sub(1, 1) == "[" then
    local inner, tail = authority:match("^%[([^%]]+)%](.*)$")
    if not inner then return nil, "a malformed IPv6 address" end
    if not v6_groups(inner) then return nil, "a malformed IPv6 address (zones are not allowed)" end
    host, literal = inner:lower(), "v6"
    port = tail:match("^:(%d+)$")
    if tail ~= "" and not port then return nil, "a malformed port" end
  else
    host, port = authority:match("^([^:]+):(%d+)$")
    if not host then
      if authority:find(":", 1, true) then return nil, "a malformed port" end
      host = authority
    end
    host = host:lower():gsub("%.$", "")
    if v4_octets(host) then
      literal = "v4"
    else
      if #host > 253 then return nil, "the host name is too long" end
      for label in (host .. "."):gmatch("([^.]*)%.") do
        if not label:match("^[%w][%w-]*$") or #label > 63 or label:sub(-1) == "-" then
          return nil, "the host is not a valid DNS name or IP address"
        end
      end
      local last = host:match("([^.]+)$")
      if not last or not last:match("^%a") then
        return nil, "the host is not a valid DNS name or IP address"
      end
    end
  end
  if port then
    if #port > 5 or tonumber(port) < 1 or tonumber(port) > 65535 then return nil, "the port must be 1 to 65535" end
    port = tonumber(port)
  else
    port = DEFAULT_PORT[scheme]
  end
  return { scheme = scheme, host = host, port = port, literal = literal, rest = rest }
end

-- check(url, opts) -> target | nil, why. opts.production (default: config.production()),
-- opts.lookup(host) -> {addresses} | nil, err (default core.http.lookup). target = {url,
-- request_url (the URL to send to: host and port as checked), scheme, host, port, addresses
-- (those checked), address (the first), pin ("host:port:addr,addr" for core.http.request's
-- resolve; nil for a literal)}. Every address the name resolves to must be allowed: a name with
-- one private address among public ones is refused (the resolver may hand out either).
function M.check(url, opts)
  opts = opts or {}
  local production = opts.production
  if production == nil then production = require("sova.config").production() end
  local t, why = M.parse(url, production)
  if not t then return nil, why end
  local addrs
  if t.literal then
    addrs = { t.host }
  else
    local lookup = opts.lookup or require("sova.core").http.lookup
    local err
    addrs, err = lookup(t.host)
    if not addrs or #addrs == 0 then return nil, ("%s does not resolve (%s)"):format(t.host, tostring(err)) end
  end
  for _, a in ipairs(addrs) do
    local ok, reason = M.address_ok(a, production)
    if not ok then return nil, reason end
  end
  t.url, t.address, t.addresses = url, addrs[1], addrs
  -- what is requested: the host as checked and pinned (lower case, no trailing dot), its port
  t.request_url = ("%s://%s:%d%s"):format(t.scheme, t.literal == "v6" and "[" .. t.host .. "]" or t.host, t.port,
    t.rest ~= "" and t.rest or "/")
  if not t.literal then
    -- every checked address (curl tries them in turn, as it would the resolver's answer), no other
    local list = {}
    for i, a in ipairs(addrs) do list[i] = a:find(":", 1, true) and "[" .. a .. "]" or a end
    t.pin = ("%s:%d:%s"):format(t.host, t.port, table.concat(list, ","))
  end
  return t
end

return M
