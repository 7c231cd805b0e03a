-- sova.store's one-time steps for data stored before list positions, search terms (in blocks)
-- and the dashboard's counters: run on the API's start (here in-process, as the API runs them),
-- they give old patients and sessions what new ones get. Tags: #api #migrate
local helpers = require("helpers")
local bson = helpers.core.bson
local BETA = helpers.BETA

describe("data stored before search and counters #api #migrate", function()
  local db

  lazy_setup(function() db = helpers.setup() end)
  lazy_teardown(helpers.stop_all)

  it("is indexed for search and counted once, at the next start", function()
    local h = db:handle()
    local store = require("sova.store")
    assert(store.ensure_indexes())
    local org = helpers.org_doc(db, BETA)
    local tag = "Oldtag" .. helpers.core.crypto.random_hex(3)
    for i = 1, 5 do
      assert(h:insert("patients", { organization_id = org._id, workflow = "patient_questions", call_status = "Completed",
        patient_name = ("%s Müller %d"):format(tag, i), preferred_language = "Spanish" }))
    end
    assert(h:insert("sessions", { organization_id = org._id, workflow = "patient_questions", created_at = bson.now() }))
    -- as a database from before: no step has run, and no counters exist
    assert(h:delete("migrations", { _id = { ["$in"] = bson.array { "patient_list_v1", "patient_search_v2", "patient_counts_v1" } } },
      { multi = true }))
    assert(h:delete("patient_counts", { organization_id = org._id }, { multi = true }))
    assert(store.ensure_indexes())

    local fields = org.workflows.patient_questions.patient_schema.fields
    local scoped = helpers.core.db.scoped(org._id)
    local docs, _, partial = require("sova.patient_search").search(scoped, "patient_questions", fields, "muller 3 " .. tag, nil, 10)
    assert.equal(1, #docs)
    assert.equal(tag .. " Müller 3", docs[1].patient_name)
    assert.is_false(partial)
    local c = assert(require("sova.patient_counts").read(scoped, "patient_questions", fields))
    assert.equal(helpers.count(db, "patients", { organization_id = org._id, workflow = "patient_questions" }), c.total)
    assert.equal(helpers.count(db, "patients", { organization_id = org._id, preferred_language = "Spanish" }),
      c.by_field.preferred_language.Spanish)
    local calls = 0
    for _, n in pairs(c.calls_per_day) do calls = calls + n end
    assert.equal(helpers.count(db, "sessions", { organization_id = org._id }), calls)
    -- and only once: a second start changes nothing
    assert(store.ensure_indexes())
    assert.same(c, require("sova.patient_counts").read(scoped, "patient_questions", fields))
  end)
end)
