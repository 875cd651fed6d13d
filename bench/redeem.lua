-- wrk script of the redeem bench: POST /api/v1/members/{id}/redemptions with unique
-- Idempotency-Keys, a random member among [member_min, member_max], one reward.
--   wrk ... -s redeem.lua URL -- PREFIX MEMBER_MIN MEMBER_MAX REWARD_ID TOKEN
-- The last line it prints starts with BENCHJSON and holds the counts and the latency
-- percentiles (microseconds) from wrk's own latency distribution (as earn.lua).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function init(args)
   prefix = args[1]
   member_min = tonumber(args[2])
   member_max = tonumber(args[3])
   body = string.format('{"reward_id":%d,"channel":"api"}', tonumber(args[4]))
   math.randomseed(os.time() * 1000 + tid)
   headers = {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. args[5],
   }
   sent = 0
   ok = 0
   other = 0
end

function request()
   sent = sent + 1
   headers["Idempotency-Key"] = prefix .. "-" .. tid .. "-" .. sent
   local path = "/api/v1/members/" .. math.random(member_min, member_max) .. "/redemptions"
   return wrk.format("POST", path, headers, body)
end

function response(status, hdrs, body)
   if status == 201 then
      ok = ok + 1
   else
      other = other + 1
      if other <= 3 then
         io.stderr:write("status " .. status .. ": " .. string.sub(body or "", 1, 300) .. "\n")
      end
   end
end

function done(summary, latency, requests)
   local s, o, n = 0, 0, 0
   for _, thread in ipairs(threads) do
      s = s + thread:get("sent")
      o = o + thread:get("ok")
      n = n + thread:get("other")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"sent":%d,"ok":%d,"other":%d,"completed":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
      s, o, n, summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
