-- sova.json's encoder (lua/sova/json.lua): the bot encodes every model request, log line and live
-- message with it, so its output must stay exactly what clients and tests read.
local core = require("sova.core")
local json = require("sova.json")

describe("sova.json encode", function()
  it("writes object keys sorted, arrays as arrays, an empty marked array as []", function()
    assert.equal('{"a":[1,2,3],"b":{},"c":[],"d":null,"e":true}',
      json.encode({ e = true, d = json.null, c = json.array({}), b = {}, a = { 1, 2, 3 } }))
  end)

  it("writes integers without a fraction and other numbers exactly", function()
    assert.equal("[0,-7,9007199254740992,1.5,-0.1,1e+300,0.30000000000000004]",
      json.encode({ 0, -7, 2 ^ 53, 1.5, -0.1, 1e300, 0.1 + 0.2 }))
  end)

  it("writes ObjectIds as hex strings and dates as ISO-8601 strings", function()
    local oid = core.bson.oid("5f0c7d3e2a1b4c5d6e7f8091")
    assert.equal('{"id":"5f0c7d3e2a1b4c5d6e7f8091"}', json.encode({ id = oid }))
    local s = json.encode({ core.bson.now() })
    assert.matches('^%["%d%d%d%d%-%d%d%-%d%dT[^"]+"%]$', s)
  end)

  it("refuses what JSON cannot hold", function()
    assert.has_error(function() json.encode({ [1] = 1, [3] = 3 }) end, "JSON object keys must be strings")
    assert.has_error(function() json.encode({ 0 / 0 }) end, "cannot encode a non-finite number")
    assert.has_error(function() json.encode({ f = print }) end, "cannot encode a function")
    local deep = {}
    for _ = 1, 70 do deep = { deep } end
    assert.has_error(function() json.encode(deep) end, "JSON nesting too deep")
  end)

  it("writes a raw part as the text given, where a value would be", function()
    local part = json.raw(json.encode({ b = 1, a = { "x" } }))
    assert.equal('{"list":[{"a":["x"],"b":1},{"a":["x"],"b":1}],"n":2}', json.encode({ n = 2, list = { part, part } }))
    assert.has_error(function() json.raw({}) end, "json.raw: JSON text expected")
  end)
end)
