-- sova.bot.llms: the language model a call uses, from the flow's services.yaml. In the bot,
-- provider requests go through the event loop: the call's coroutine yields until the answer
-- arrives, so a slow provider never holds up other calls.
local core = require("sova.core")
local services = require("sova.services")
local rules = require("sova.call.rules")
local openai = require("sova.llm.openai")

local M = {}

-- A transport for HTTP adapters: runs the request on the loop and yields until it is done.
local function loop_transport(req)
  local id, err = core.loop.fetch(req)
  if not id then return nil, err end
  local ev = coroutine.yield(id)
  if ev.error then return nil, ev.error end
  return { status = ev.status, body = ev.body, headers = {} }
end
M.loop_transport = loop_transport

-- for_flow(dir) -> llm adapter, note|nil
function M.for_flow(dir)
  local cfg, problems = services.load(dir .. "/services.yaml")
  if not cfg then
    return rules.new(), "services.yaml is not valid (" .. tostring(problems and problems[1] and problems[1].message or problems)
      .. "): using the offline rules engine"
  end
  local llm = cfg.llm or {}
  if llm.provider == "openai" and not cfg.fallback then
    return openai.new {
      base_url = llm.base_url, model = llm.model, api_key = os.getenv(llm.api_key_env or "OPENAI_API_KEY"),
      temperature = llm.temperature, timeout_ms = llm.timeout_ms, transport = loop_transport,
    }
  end
  return rules.new(), cfg.fallback
end

return M
