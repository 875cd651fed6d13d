-- wrk script of the earn bench: POST /api/v1/purchases with unique external ids and
-- Idempotency-Keys, a random member among [member_min, member_max].
--   wrk ... -s earn.lua URL -- PREFIX MEMBER_MIN MEMBER_MAX OCCURRED_AT TOKEN STORE [LINES]
-- With LINES (the rules bench), each purchase has that many lines: SKUs and categories
-- drawn from fixed sets, the total their sum.
-- The last line it prints starts with BENCHJSON and holds the counts and the latency
-- percentiles (microseconds) from wrk's own latency distribution.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function init(args)
   prefix = args[1]
   member_min = tonumber(args[2])
   member_max = tonumber(args[3])
   occurred_at = args[4]
   store = args[6]
   lines = tonumber(args[7] or "0")
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
   local id = prefix .. "-" .. tid .. "-" .. sent
   local body
   if lines > 0 then
      local parts, total = {}, 0
      for i = 1, lines do
         local quantity, price = math.random(1, 3), math.random(100, 2000)
         total = total + quantity * price
         parts[i] = string.format('{"sku":"SKU-%d","category":"cat-%d","brand":"brand-%d","quantity":%d,"unit_price_cents":%d}',
            math.random(1, 1000), math.random(1, 50), math.random(1, 50), quantity, price)
      end
      body = string.format(
         '{"member":{"id":%d},"store":"%s","external_id":"%s","occurred_at":"%s","total_cents":%d,"currency":"EUR","lines":[%s]}',
         math.random(member_min, member_max), store, id, occurred_at, total, table.concat(parts, ","))
   else
      body = string.format(
         '{"member":{"id":%d},"store":"%s","external_id":"%s","occurred_at":"%s","total_cents":%d,"currency":"EUR"}',
         math.random(member_min, member_max), store, id, occurred_at, 500 + (sent * 37) % 9500)
   end
   headers["Idempotency-Key"] = id
   return wrk.format("POST", "/api/v1/purchases", headers, body)
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
