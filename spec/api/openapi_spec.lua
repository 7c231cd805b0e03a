-- schemas/openapi.json against the server: every route of the route table is documented with its
-- methods and authentication, every documented operation is a route, every $ref resolves, and
-- the real sova api (with a real bot and FerretDB) answers each main route and error case in the
-- shape the document gives for that status (checked with sova.jsonschema). Tags: #api #openapi
local helpers = require("helpers")
local jsonschema = require("sova.jsonschema")
local server = require("sova.api.server")
local core = helpers.core
local cjson = helpers.cjson
local describe_response = require("helpers.assertions").describe_response
local ALPHA, BETA = helpers.ALPHA, helpers.BETA

local METHODS = { get = true, put = true, post = true, delete = true, options = true, head = true, patch = true,
  trace = true }

local function read(path)
  local f = assert(io.open(helpers.ROOT .. "/" .. path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local DOC_TEXT = read("schemas/openapi.json")
local DOC = cjson.decode(DOC_TEXT)

-- Documented but served by a branch not merged yet: once the route exists, the spec below fails
-- until the entry is removed here.
local function pointer_token(s) return (s:gsub("~", "~0"):gsub("/", "~1")) end

-- "#/components/responses/NotFound" -> the node and its pointer
local function deref(node, pointer)
  while node["$ref"] do
    pointer = node["$ref"]:match("^#(.*)$")
    assert(pointer, "only local $refs: " .. node["$ref"])
    node = DOC
    for tok in pointer:gmatch("[^/]+") do node = node[tok:gsub("~1", "/"):gsub("~0", "~")] end
    assert(node, "unresolvable $ref " .. pointer)
  end
  return node, pointer
end

local function operations()
  local out = {}
  for path, item in pairs(DOC.paths) do
    for method, op in pairs(item) do
      if METHODS[method] then out[#out + 1] = { key = method:upper() .. " " .. path, op = op, path = path } end
    end
  end
  table.sort(out, function(a, b) return a.key < b.key end)
  return out
end

local function routes_by_key()
  local out = {}
  for _, r in ipairs(server.routes()) do out[r.method .. " " .. r.path] = r end
  return out
end

describe("the OpenAPI document #api #openapi", function()
  it("documents every route of the server, with its authentication", function()
    local routes = server.routes()
    assert.is_true(#routes > 0)
    for _, r in ipairs(routes) do
      local item = DOC.paths[r.path]
      assert(item, r.path .. " is not in schemas/openapi.json")
      local op = item[r.method:lower()]
      assert(op, r.method .. " " .. r.path .. " is not in schemas/openapi.json")
      local security = op.security or DOC.security
      if r.needs == "auth" or r.needs == "auth_or_link" then
        assert(#security > 0, r.method .. " " .. r.path .. " needs a token: its security must name bearer")
        assert.is_table(op.responses["401"], r.method .. " " .. r.path .. " documents no 401")
      else
        assert.equal(0, #security, r.method .. " " .. r.path .. " needs no token: security must be []")
      end
    end
  end)

  it("documents only routes the server has", function()
    local routes = routes_by_key()
    for _, o in ipairs(operations()) do
      assert(routes[o.key], o.key .. " is documented, but the server has no such route")
    end
  end)

  it("resolves every $ref and gives every answer with a body a JSON schema", function()
    local n = 0
    local function walk(node)
      if type(node) ~= "table" then return end
      if type(node["$ref"]) == "string" then
        deref(node)
        n = n + 1
      end
      for _, v in pairs(node) do walk(v) end
    end
    walk(DOC)
    assert.is_true(n > 50)
    for _, o in ipairs(operations()) do
      for status, resp in pairs(o.op.responses) do
        local r = deref(resp)
        assert.is_string(r.description, o.key .. " " .. status)
        if status ~= "204" then
          -- JSON, or a text download (a scenario's YAML, a report's CSV) described as a string
          local json_schema = r.content and r.content["application/json"] and r.content["application/json"].schema
          local text = r.content and (r.content["text/yaml"] or r.content["text/csv"])
          text = text and text.schema
          local audio = r.content and r.content["audio/wav"] and r.content["audio/wav"].schema
          assert(type(json_schema) == "table" or (type(text) == "table" and text.type == "string")
            or (type(audio) == "table" and audio.type == "string" and audio.format == "binary"),
            o.key .. " " .. status .. " has no application/json schema")
        end
      end
    end
  end)

  it("describes field definitions with the properties of schemas/patient_schema_field.schema.json", function()
    local field = cjson.decode(read("schemas/patient_schema_field.schema.json"))
    local documented = DOC.components.schemas.FieldDef
    local keys = helpers.sorted_keys
    assert.same(keys(field.properties), keys(documented.properties))
    assert.same(field.required, documented.required)
    assert.same(field.properties.type.enum, DOC.components.schemas.FieldType.enum)
  end)
end)

describe("answers of the running server match the document #api #openapi", function()
  local db, api, token
  local checked = {} -- "METHOD /path" -> {status = true}

  lazy_setup(function()
    db, api = helpers.setup_calls()
    token = helpers.login_as(api, ALPHA)
  end)
  lazy_teardown(helpers.stop_all)

  -- Sends method to the documented path (its {params} filled from params) and checks the answer
  -- against the document: the status is documented for the operation, and the body has its schema.
  local function call(method, path, params, opts)
    opts = opts or {}
    if opts.token == nil and not opts.anonymous then opts.token = token end
    local url = path:gsub("{([%w_]+)}", function(k) return assert(params[k], "no value for " .. k) end)
    local res = helpers.http(api, method, url .. (opts.query or ""), opts)
    local key = method .. " " .. path
    local item = DOC.paths[path]
    local op = assert(item and item[method:lower()], key .. " is not documented")
    local resp_ref = op.responses[tostring(res.status)]
    assert(resp_ref, key .. " answered " .. res.status .. ", which the document does not list\n"
      .. describe_response(res))
    local resp, pointer = deref(resp_ref, "/paths/" .. pointer_token(path) .. "/" .. method:lower()
      .. "/responses/" .. res.status)
    if resp.content == nil then
      assert.equal("", res.body, key .. " " .. res.status .. " documents no body")
    elseif resp.content["audio/wav"] then
      assert.equal("audio/wav", res.headers["content-type"], describe_response(res))
      assert.equal("RIFF", res.body:sub(1, 4))
    elseif resp.content["text/csv"] then
      assert.truthy((res.headers["content-type"] or ""):find("text/csv", 1, true), describe_response(res))
    elseif resp.content["text/yaml"] then
      assert.truthy((res.headers["content-type"] or ""):find("text/yaml", 1, true), describe_response(res))
      assert.truthy(core.yaml.decode(res.body), key .. " answered no YAML\n" .. describe_response(res))
    else
      assert.truthy((res.headers["content-type"] or ""):find("application/json", 1, true))
      assert(res.json ~= nil, key .. " answered no JSON\n" .. describe_response(res))
      local schema = { ["$ref"] = "openapi.json#" .. pointer .. "/content/application~1json/schema" }
      local ok, errs = jsonschema.validate(schema, res.json, { load = function() return DOC end })
      assert(ok, key .. " " .. res.status .. " does not match the document: " .. jsonschema.format_errors(errs)
        .. "\n" .. describe_response(res))
    end
    checked[key] = checked[key] or {}
    checked[key][res.status] = true
    return res
  end

  -- An answer that belongs to no operation (405, unknown path) has the error shape.
  local function is_error_body(res)
    local ok, errs = jsonschema.validate({ ["$ref"] = "openapi.json#/components/schemas/Error" }, res.json,
      { load = function() return DOC end })
    assert(ok, jsonschema.format_errors(errs) .. "\n" .. describe_response(res))
  end

  local patient

  it("public routes: health, the vocabulary, the document itself, the tenant", function()
    assert.status(200, call("GET", "/api/health", {}, { anonymous = true }))
    assert.status(200, call("GET", "/api/meta", {}, { anonymous = true, host = "nobody.localhost" }))
    local res = call("GET", "/api/openapi.json", {}, { anonymous = true, host = "nobody.localhost" })
    assert.status(200, res)
    assert.equal(DOC_TEXT, res.body)
    assert.status(200, call("GET", "/api/tenant", {}, { anonymous = true }))
    assert.status(404, call("GET", "/api/tenant", {}, { anonymous = true, host = "democlinicgamma.localhost" }))
  end)

  it("login: a session, and each refusal", function()
    assert.status(200, call("POST", "/api/auth/login", {},
      { anonymous = true, body = { email = ALPHA.email, password = helpers.DEMO_PASSWORD } }))
    assert.status(401, call("POST", "/api/auth/login", {},
      { anonymous = true, body = { email = ALPHA.email, password = "not the password" } }))
    assert.status(403, call("POST", "/api/auth/login", {},
      { anonymous = true, body = { email = BETA.email, password = helpers.DEMO_PASSWORD } }))
    assert.status(422, call("POST", "/api/auth/login", {}, { anonymous = true, body = { email = ALPHA.email } }))
    assert.status(400, call("POST", "/api/auth/login", {}, { anonymous = true, raw = "{" }))
    local res
    for _ = 1, 6 do
      res = call("POST", "/api/auth/login", {}, { anonymous = true, body = { email = "nobody@example.com", password = "x" } })
    end
    assert.status(429, res)
  end)

  it("the signed-in user, and requests without a good token", function()
    assert.status(200, call("GET", "/api/me", {}))
    assert.status(401, call("GET", "/api/me", {}, { anonymous = true }))
    assert.status(401, call("GET", "/api/me", {}, { token = "not.a.token" }))
    assert.status(403, call("GET", "/api/me", {}, { host = BETA.host }))
  end)

  it("patients: add, list, read, change; refusals", function()
    local wf = { workflow = "prior_auth" }
    local res = call("POST", "/api/workflows/{workflow}/patients", wf, { body = helpers.valid_patient("prior_auth") })
    assert.status(201, res)
    patient = res.json
    assert.status(201, call("POST", "/api/workflows/{workflow}/patients", wf,
      { body = helpers.valid_patient("prior_auth", "alpha", { patient_name = "Grace Hopper" }) }))
    assert.status(422, call("POST", "/api/workflows/{workflow}/patients", wf,
      { body = helpers.valid_patient("prior_auth", "alpha", { date_of_birth = "yesterday" }) }))
    assert.status(400, call("POST", "/api/workflows/{workflow}/patients", wf, { raw = "[1]" }))
    assert.status(404, call("POST", "/api/workflows/{workflow}/patients", { workflow = "no_such_workflow" },
      { body = helpers.valid_patient("prior_auth") }))

    res = call("GET", "/api/workflows/{workflow}/patients", wf, { query = "?limit=1" })
    assert.status(200, res)
    assert.is_string(res.json.next_cursor)
    res = call("GET", "/api/workflows/{workflow}/patients", wf, { query = "?q=Hopper" })
    assert.status(200, res)
    assert.equal(1, #res.json.items)
    assert.equal(cjson.null, res.json.next_cursor)
    assert.status(400, call("GET", "/api/workflows/{workflow}/patients", wf, { query = "?limit=0" }))

    local id = { id = patient.id }
    assert.status(200, call("GET", "/api/patients/{id}", id))
    assert.status(404, call("GET", "/api/patients/{id}", { id = helpers.new_id() }))
    assert.status(200, call("PATCH", "/api/patients/{id}", id, { body = { cpt_code = "70553" } }))
    assert.status(422, call("PATCH", "/api/patients/{id}", id, { body = { date_of_birth = "yesterday" } }))
    assert.status(200, call("GET", "/api/workflows/{workflow}/dashboard", wf))
  end)

  it("a test call: start, session list, the session with its transcript and outcome", function()
    local id = { id = patient.id }
    assert.status(422, call("POST", "/api/patients/{id}/calls", id, { body = { mode = "phone" } }))
    local res = call("POST", "/api/patients/{id}/calls", id, { body = { mode = "browser" } })
    assert.status(202, res)
    local session_id = res.json.session_id
    local ws = assert(core.ws_client.connect(res.json.live_url))
    -- listening to it while it runs
    assert.status(200, call("POST", "/api/sessions/{id}/listen", { id = session_id }))
    assert.status(404, call("POST", "/api/sessions/{id}/listen", { id = helpers.new_id() }))
    -- the other party's lines in turn: each once the agent has had its say
    local function agents_turn_over()
      local deadline = core.sys.monotonic() + 20
      while core.sys.monotonic() < deadline do
        local m = ws:receive(500)
        local msg = m and cjson.decode(m)
        if type(msg) == "table" and msg.type == "turn" and msg.expecting == "other_party" then return true end
      end
      return false
    end
    for line in read("spec/fixtures/cli/prior_auth_approved.txt"):gmatch("[^\n]+") do
      if line:sub(1, 1) ~= "#" then
        assert.is_true(agents_turn_over(), "the agent did not finish its turn before: " .. line)
        assert(ws:send(cjson.encode({ type = "say", text = line })))
      end
    end
    local session
    local ended = pcall(helpers.wait_until, function()
      session = call("GET", "/api/sessions/{id}", { id = session_id }).json
      return session.status ~= "in_progress" and session.status ~= "queued"
    end, 30)
    ws:close()
    assert.is_true(ended, "the call did not end: " .. cjson.encode(session))
    assert.equal("completed", session.status, cjson.encode({ reason = session.reason, events = session.events }))
    assert.equal("Approved", session.outcome.prior_auth_status)
    assert.is_true(#session.transcript.messages > 0)
    assert.status(409, call("POST", "/api/sessions/{id}/listen", { id = session_id }))
    res = call("GET", "/api/patients/{id}/sessions", id)
    assert.status(200, res)
    assert.equal(session_id, res.json.items[1].id)
    assert.status(404, call("GET", "/api/sessions/{id}", { id = helpers.new_id() }))
    assert.status(200, call("GET", "/api/sessions/{id}/scenario", { id = session_id }))
    assert.status(404, call("GET", "/api/sessions/{id}/scenario", { id = helpers.new_id() }))
    assert.status(200, call("GET", "/api/workflows/{workflow}/dashboard", { workflow = "prior_auth" }))

    -- its recording (stored in-process as the bot will), whole, in a range, linked
    local sid = { id = session_id }
    assert.status(404, call("GET", "/api/sessions/{id}/recording", sid))
    assert.status(404, call("POST", "/api/sessions/{id}/recording/link", sid))
    local pcm = string.rep("\1\0\255\255", 4000)
    local wav = "RIFF" .. "\0\0\0\0" .. "WAVEfmt " .. "\16\0\0\0\1\0\2\0\128\62\0\0\0\250\0\0\4\0\16\0"
      .. "data" .. "\0\125\0\0" .. pcm
    assert(core.recording.set_key(helpers.DATA_KEY))
    local org = helpers.org_doc(db, ALPHA)._id
    assert(require("sova.recording").store(db:handle(), org, helpers.oid(session_id), wav))
    session = call("GET", "/api/sessions/{id}", sid).json
    assert.equal(#wav, session.recording.bytes)
    assert.equal(#wav, #call("GET", "/api/sessions/{id}/recording", sid).body)
    assert.status(206, call("GET", "/api/sessions/{id}/recording", sid, { headers = { Range = "bytes=0-99" } }))
    assert.status(416, call("GET", "/api/sessions/{id}/recording", sid, { headers = { Range = "bytes=99999-" } }))
    assert.status(200, call("POST", "/api/sessions/{id}/recording/link", sid))
  end)

  it("campaigns: start, list, read, pause, resume, cancel, report; refusals", function()
    local wf = { workflow = "patient_questions" }
    local p = call("POST", "/api/workflows/{workflow}/patients", wf, { body = helpers.valid_patient("patient_questions") })
    assert.status(201, p)
    local res = call("POST", "/api/workflows/{workflow}/campaigns", wf, { body = { patient_ids = { p.json.id },
      mode = "simulated", concurrency = 2, window = { days = { "mon", "tue" }, start = "09:00", ["end"] = "17:00" } } })
    assert.status(201, res)
    local id = { id = res.json.id }
    assert.status(422, call("POST", "/api/workflows/{workflow}/campaigns", wf, { body = { patient_ids = { p.json.id },
      mode = "fax" } }))
    assert.status(200, call("GET", "/api/workflows/{workflow}/campaigns", wf))
    assert.status(200, call("GET", "/api/campaigns/{id}", id))
    assert.status(404, call("GET", "/api/campaigns/{id}", { id = helpers.new_id() }))
    assert.status(200, call("POST", "/api/campaigns/{id}/pause", id))
    assert.status(409, call("POST", "/api/campaigns/{id}/pause", id))
    assert.status(200, call("POST", "/api/campaigns/{id}/resume", id))
    assert.status(200, call("POST", "/api/campaigns/{id}/cancel", id))
    assert.status(409, call("POST", "/api/campaigns/{id}/resume", id))
    assert.status(200, call("GET", "/api/campaigns/{id}/report.csv", id))
  end)

  it("users: list, invite, accept, change, reset links, one's own password; refusals", function()
    local res = call("POST", "/api/users/invites", {}, { body = { email = "openapi.user@example.com", role = "staff" } })
    assert.status(201, res)
    local invite = res.json.invite
    local tok = { token = res.json.link:match("([^/]+)$") }
    assert.status(422, call("POST", "/api/users/invites", {}, { body = { email = "nope" } }))
    assert.status(409, call("POST", "/api/users/invites", {}, { body = { email = ALPHA.email } }))
    assert.status(200, call("GET", "/api/users", {}))
    assert.status(200, call("GET", "/api/invites/{token}", tok, { anonymous = true }))
    assert.status(404, call("GET", "/api/invites/{token}", { token = string.rep("0", 64) }, { anonymous = true }))
    local password = "a long enough password"
    assert.status(422, call("POST", "/api/invites/{token}/accept", tok, { anonymous = true, body = { password = "short" } }))
    res = call("POST", "/api/invites/{token}/accept", tok, { anonymous = true, body = { password = password } })
    assert.status(201, res)
    local id = { id = res.json.user.id }
    assert.status(404, call("POST", "/api/invites/{token}/accept", tok, { anonymous = true, body = { password = password } }))
    local other = call("POST", "/api/users/invites", {}, { body = { email = "openapi.other@example.com" } }).json.invite
    assert.status(204, call("DELETE", "/api/users/invites/{id}", { id = other.id }))
    assert.status(404, call("DELETE", "/api/users/invites/{id}", { id = invite.id }))
    assert.status(200, call("PATCH", "/api/users/{id}", id, { body = { name = "Open Api" } }))
    assert.status(422, call("PATCH", "/api/users/{id}", id, { body = { role = "owner" } }))
    assert.status(404, call("PATCH", "/api/users/{id}", { id = helpers.new_id() }, { body = { role = "staff" } }))
    local me = helpers.login_as(api, ALPHA)
    local my_id = call("GET", "/api/me", {}, { token = me }).json.user.id
    assert.status(409, call("PATCH", "/api/users/{id}", { id = my_id }, { body = { status = "disabled" } }))
    res = call("POST", "/api/users/{id}/password-reset", id)
    assert.status(201, res)
    local reset = { token = res.json.link:match("([^/]+)$") }
    assert.status(200, call("GET", "/api/password-resets/{token}", reset, { anonymous = true }))
    assert.status(422, call("POST", "/api/password-resets/{token}", reset, { anonymous = true, body = { password = "short" } }))
    assert.status(204, call("POST", "/api/password-resets/{token}", reset, { anonymous = true, body = { password = password .. "!" } }))
    assert.status(404, call("GET", "/api/password-resets/{token}", reset, { anonymous = true }))
    local staff = helpers.login(api, ALPHA.host, "openapi.user@example.com", password .. "!")
    assert.status(403, call("GET", "/api/users", {}, { token = staff }))
    assert.status(403, call("POST", "/api/me/password", {}, { token = staff,
      body = { current_password = "not it at all", new_password = "another long password" } }))
    assert.status(422, call("POST", "/api/me/password", {}, { token = staff,
      body = { current_password = password .. "!", new_password = "short" } }))
    assert.status(204, call("POST", "/api/me/password", {}, { token = staff,
      body = { current_password = password .. "!", new_password = "another long password" } }))
  end)

  it("CSV import of patients: check, import, replay, refusals", function()
    local wf = { workflow = "patient_questions" }
    local text = "patient_name,date_of_birth,phone_number,appointment_time\r\n" ..
      "Ida Import,1970-01-01,+15165550141,2026-12-03T09:15:00\r\nBad Row,1970-13-01,+15165550142,\r\n"
    local res = call("POST", "/api/workflows/{workflow}/patients/import", wf, { body = { mode = "validate", csv = text } })
    assert.status(200, res)
    assert.equal(1, res.json.invalid)
    local body = { mode = "good_rows", csv = text, import_id = "openapi-spec-1" }
    res = call("POST", "/api/workflows/{workflow}/patients/import", wf, { body = body })
    assert.status(201, res)
    assert.equal(1, res.json.imported)
    assert.status(200, call("POST", "/api/workflows/{workflow}/patients/import", wf, { body = body }))
    assert.status(422, call("POST", "/api/workflows/{workflow}/patients/import", wf,
      { body = { mode = "all_or_nothing", csv = text } }))
    assert.status(422, call("POST", "/api/workflows/{workflow}/patients/import", wf, { body = { mode = "x" } }))
    assert.status(422, call("POST", "/api/workflows/{workflow}/patients/import", wf,
      { body = { mode = "validate", csv = 'a"b' } }))
    assert.status(404, call("POST", "/api/workflows/{workflow}/patients/import", { workflow = "no_such_workflow" },
      { body = { mode = "validate", csv = text } }))
  end)

  it("webhooks: add, list, change, test, the delivery log, replay, delete; refusals", function()
    local res = call("POST", "/api/webhooks", {}, { body = { url = "http://127.0.0.1:9/openapi-hook",
      events = { "call.ended", "campaign.finished" } } })
    assert.status(201, res)
    local id = { id = res.json.id }
    assert.status(422, call("POST", "/api/webhooks", {}, { body = { url = "ftp://127.0.0.1/", events = { "call.ended" } } }))
    assert.status(400, call("POST", "/api/webhooks", {}, { raw = "{" }))
    assert.status(200, call("GET", "/api/webhooks", {}))
    assert.status(200, call("PATCH", "/api/webhooks/{id}", id, { body = { description = "the EHR" } }))
    assert.status(422, call("PATCH", "/api/webhooks/{id}", id, { body = { events = { "nope" } } }))
    assert.status(404, call("PATCH", "/api/webhooks/{id}", { id = helpers.new_id() }, { body = { enabled = false } }))
    local d = call("POST", "/api/webhooks/{id}/test", id)
    assert.status(202, d)
    assert.status(200, call("GET", "/api/webhooks/deliveries", {}, { query = "?status=pending&limit=5" }))
    assert.status(400, call("GET", "/api/webhooks/deliveries", {}, { query = "?status=lost" }))
    assert.status(202, call("POST", "/api/webhook-deliveries/{id}/replay", { id = d.json.id }))
    assert.status(404, call("POST", "/api/webhook-deliveries/{id}/replay", { id = helpers.new_id() }))
    assert.status(200, call("PATCH", "/api/webhooks/{id}", id, { body = { enabled = false } }))
    assert.status(409, call("POST", "/api/webhooks/{id}/test", id))
    assert.status(204, call("DELETE", "/api/webhooks/{id}", id))
    assert.status(404, call("DELETE", "/api/webhooks/{id}", id))
  end)

  it("the audit trail", function()
    local res = call("GET", "/api/audit", {}, { query = "?limit=2" })
    assert.status(200, res)
    assert.is_string(res.json.next_cursor)
    assert.status(400, call("GET", "/api/audit", {}, { query = "?cursor=zz" }))
  end)

  it("deleting a patient, and signing out", function()
    assert.status(204, call("DELETE", "/api/patients/{id}", { id = patient.id }))
    assert.status(404, call("DELETE", "/api/patients/{id}", { id = patient.id }))
    local other = helpers.login_as(api, ALPHA)
    assert.status(204, call("POST", "/api/auth/logout", {}, { token = other }))
    assert.status(401, call("POST", "/api/auth/logout", {}, { token = other }))
  end)

  it("answers outside any operation have the error shape: 405, 404, 413", function()
    local res = helpers.http(api, "PUT", "/api/patients/" .. helpers.new_id(), { token = token, body = {} })
    assert.status(405, res)
    is_error_body(res)
    res = helpers.http(api, "GET", "/api/no-such-thing")
    assert.status(404, res)
    is_error_body(res)
    res = call("POST", "/api/workflows/{workflow}/patients", { workflow = "prior_auth" },
      { raw = '{"patient_name": "' .. string.rep("x", 1100 * 1024) .. '"}' })
    assert.status(413, res)
  end)

  it("checked every documented operation's success answer", function()
    for _, o in ipairs(operations()) do
      for status in pairs(o.op.responses) do
        local success = status:match("^2") and tonumber(status)
        if success then
          assert(checked[o.key] and checked[o.key][success], o.key .. " " .. tostring(success) .. " was not checked")
        end
      end
    end
  end)
end)
