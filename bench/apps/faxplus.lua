-- wrk script: POST the Fax.Plus example with a unique hook id per request, so dedup does real
-- work. Usage: wrk ... -s faxplus.lua URL -- <id prefix>
-- The body is byte for byte apps/payloads.py's faxplus_body(prefix .. counter).
local template = '{"hook":{"id":"%s","event":"fax_sent","event_time":"2024-09-09 10:44:39",'
  .. '"target":"https://webhook.com"},"data":{"id":"%s",'
  .. '"uid":"490ae330dbc749f0b6561dafa300f2fb","pages":1,"from":"+1 334-304-xxxx",'
  .. '"to":"+1 334-304-xxxx","start_time":"2024-09-09 10:44:39",'
  .. '"file":"1d0b618e4fb54957878eed0ecc64ae5e.tiff","file_name":"fax-to-1334304xxxx",'
  .. '"status":"success","cost":1}}'

local prefix = "bench"
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_tag", tostring(threads))
end

function init(args)
  prefix = (args[1] or "bench") .. "-" .. (thread_tag or "0") .. "-"
end

function request()
  counter = counter + 1
  local id = prefix .. counter
  return wrk.format("POST", nil, headers, string.format(template, id, id))
end
