-- sova.llm: the language model a call uses, chosen from its flow's services.yaml; the one place
-- that choice is made, for the bot and for `sova flow simulate` alike.
--
--   local llm = require("sova.llm")
--   local adapter, note = llm.for_flow(dir[, { transport = fn, sleep = fn }])
--
-- openai (sova.llm.openai) when services.yaml names it and the variable it names holds a key;
-- otherwise the offline rules engine (sova.llm.rules), with a note saying why. transport and
-- sleep are how HTTP requests and waits between retries run: the bot passes the event loop's
-- (a call's coroutine yields), the command-line tools keep the blocking defaults.
local services = require("sova.services")
local rules = require("sova.llm.rules")
local openai = require("sova.llm.openai")

local M = {}

-- for_flow(dir[, io]) -> adapter, note|nil
function M.for_flow(dir, io_opts)
  local cfg, problems = services.load(dir .. "/services.yaml")
  if not cfg then
    return rules.new(), "services.yaml is not valid (" .. services.format_problems(problems)
      .. "): using the offline rules engine"
  end
  local opts = services.llm_options(cfg) -- the key only from the variable the file names
  if opts then
    if io_opts then opts.transport, opts.sleep = io_opts.transport, io_opts.sleep end
    return openai.new(opts)
  end
  return rules.new(), cfg.fallback
end

return M
