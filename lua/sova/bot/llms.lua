-- sova.bot.llms: the language model a call uses, from the flow's services.yaml. In the bot,
-- provider requests go through the event loop: the call's coroutine yields until the answer
-- arrives, so a slow provider never holds up other calls.
local core = require("sova.core")
local services = require("sova.services")
local rules = require("sova.call.rules")
local openai = require("sova.llm.openai")

local M = {}

-- A transport for HTTP adapters: runs the request on the loop and yields until it is done.
-- (The whole answer is parsed when it has arrived; streaming through the loop is not done yet.)
local function loop_transport(req)
  local id, err = core.loop.fetch(req)
  if not id then return nil, err end
  local ev = coroutine.yield({ fetch = id })
  if ev.error then return nil, ev.error end
  return { status = ev.status, body = ev.body, headers = {} }
end
M.loop_transport = loop_transport

-- Waiting between retries yields too: the loop resumes the call when the time is up.
local function loop_sleep(seconds) coroutine.yield({ sleep = seconds }) end

-- for_flow(dir) -> llm adapter, note|nil
function M.for_flow(dir)
  local cfg, problems = services.load(dir .. "/services.yaml")
  if not cfg then
    return rules.new(), "services.yaml is not valid (" .. services.format_problems(problems)
      .. "): using the offline rules engine"
  end
  local opts = services.llm_options(cfg) -- the key only from the variable the file names
  if opts then
    opts.transport, opts.sleep = loop_transport, loop_sleep
    return openai.new(opts)
  end
  return rules.new(), cfg.fallback
end

return M
