-- sova.api.meta: GET /api/meta, the platform's vocabulary (sova.sandboxed.vocabulary): call
-- statuses with their labels, system fields, session event types. Public, like /api/health:
-- it is the same for every clinic and holds no PHI, so it needs neither a tenant nor a token.
local vocabulary = require("sova.sandboxed.vocabulary")

local M = {}

function M.show() return 200, vocabulary.document() end

return M
