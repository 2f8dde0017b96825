-- wrk script of `npm run bench:soak`: a mix of requests against several objects, each thread stopping after a
-- quota of responses (it then prints THREAD_DONE on stderr; bench/wrk.ts ends the run once all threads have).
-- Arguments (after `--`): <responses per thread> <slice size> <cold share> <cold keys> <cold object or "">
-- <name:size> [<name:size> …].
--
-- A share <cold share> of the requests (default 1 %) asks for 4 KiB of <cold object> (default: any object of
-- more than three slices) under a query string `?v=<n>`, n drawn from 1..<cold keys> (0: from 1..10^9, so every
-- such URL is new): cold keys, so the store keeps filling and evicting. The rest (shares of the rest):
--   66 %  4 KiB at a random offset of an object larger than three slices (one slice)
--   12 %  8–64 KiB straddling a slice boundary (two slices)
--    1 %  1.5–2.5 MiB at a random offset (2–4 slices)
--    4 %  a suffix range, the last 1–8192 bytes
--    5 %  a range starting at or past the end (416)
--   12 %  a whole small object (at most one slice), no Range (200)
-- HEAD is not in this mix: wrk's parser cannot tell that a HEAD response has no body and waits for the
-- Content-Length bytes until its timeout (wg/wrk#198); bench/soak.ts sends the HEADs itself, beside wrk.
-- Every response is checked: a 206's body length against its Content-Range and object size, a 200's against
-- Content-Length (and it must be a small object's: a 200 to a Range would be the whole object), a 416's
-- Content-Range; anything else counts as bad, with a few described.

local objects, small, multi, sizes = {}, {}, {}, {}
local quota, sliceSize, coldShare, coldKeys, coldObject = 0, 1048576, 0.01, 0, nil
local seen, stopped = 0, false

-- Counters: globals, so done() can read them from every thread with thread:get().
n206, n200, n416, nbad = 0, 0, 0, 0
hit, miss, partial, revalidated, pass, nocache = 0, 0, 0, 0, 0, 0
badtext = ""

local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  quota = tonumber(args[1])
  sliceSize = tonumber(args[2])
  coldShare = tonumber(args[3])
  coldKeys = tonumber(args[4])
  local coldName = args[5]
  for i = 6, #args do
    local name, size = string.match(args[i], "^(.+):(%d+)$")
    local o = { path = "/" .. name, size = tonumber(size) }
    table.insert(objects, o)
    sizes[o.size] = true
    if o.size <= sliceSize then table.insert(small, o) end
    if o.size > 3 * sliceSize then table.insert(multi, o) end
    if o.path == "/" .. coldName then coldObject = o end
  end
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

local function int(a, b) return a + math.floor(math.random() * (b - a + 1)) end
local function pick(list) return list[int(1, #list)] end
local function span(o, first, last) return "bytes=" .. first .. "-" .. last end

function request()
  local o, path, range = nil, nil, nil
  if math.random() < coldShare then
    o = coldObject or pick(multi)
    path = o.path .. "?v=" .. (coldKeys > 0 and int(1, coldKeys) or int(1, 1000000000))
    local s = int(0, o.size - 4096)
    range = span(o, s, s + 4095)
  else
    local r = math.random()
    if r < 0.66 then
      o = pick(multi)
      local s = int(0, o.size - 4096)
      range = span(o, s, s + 4095)
    elseif r < 0.78 then
      o = pick(multi)
      local boundary = int(1, math.floor((o.size - 1) / sliceSize)) * sliceSize
      local s = boundary - int(1, 32768)
      range = span(o, s, math.min(o.size - 1, boundary + int(0, 32767)))
    elseif r < 0.79 then
      o = pick(multi)
      local len = int(math.floor(sliceSize * 1.5), math.floor(sliceSize * 2.5))
      local s = int(0, o.size - len)
      range = span(o, s, s + len - 1)
    elseif r < 0.83 then
      o = pick(objects)
      range = "bytes=-" .. int(1, 8192)
    elseif r < 0.88 then
      o = pick(objects)
      range = "bytes=" .. (o.size + int(0, 1000000)) .. "-"
    else
      o = pick(small)
    end
  end
  local headers = {}
  if range ~= nil then headers["Range"] = range end
  return wrk.format("GET", path or o.path, headers)
end

local function header(headers, name)
  local v = headers[name]
  if v ~= nil then return v end
  local lower = string.lower(name)
  for k, value in pairs(headers) do
    if string.lower(k) == lower then return value end
  end
  return nil
end

local function bad(text)
  nbad = nbad + 1
  if nbad <= 5 then badtext = badtext .. text .. "\n" end
end

function response(status, headers, body)
  local len = #body
  if status == 206 then
    local a, b, size = string.match(header(headers, "content-range") or "", "^bytes (%d+)%-(%d+)/(%d+)$")
    if a == nil or tonumber(b) - tonumber(a) + 1 ~= len or not sizes[tonumber(size)] then
      bad("206 with Content-Range " .. tostring(header(headers, "content-range")) .. " and " .. len .. " bytes")
    else
      n206 = n206 + 1
    end
  elseif status == 200 then
    local cl = tonumber(header(headers, "content-length") or "-1")
    -- Whole-object GETs only ask for objects of at most one slice: a longer 200 answered a Range with everything.
    if len == cl and sizes[len] and len <= sliceSize then
      n200 = n200 + 1
    else
      bad("200 with Content-Length " .. tostring(cl) .. " and " .. len .. " bytes")
    end
  elseif status == 416 then
    local size = string.match(header(headers, "content-range") or "", "^bytes %*/(%d+)$")
    if size == nil or not sizes[tonumber(size)] or len ~= 0 then
      bad("416 with Content-Range " .. tostring(header(headers, "content-range")) .. " and " .. len .. " bytes")
    else
      n416 = n416 + 1
    end
  else
    bad("status " .. status .. ": " .. string.sub(body, 1, 120))
  end
  local cache = header(headers, "x-slice-cache")
  if cache == "HIT" then
    hit = hit + 1
  elseif cache == "MISS" then
    miss = miss + 1
  elseif cache == "PARTIAL" then
    partial = partial + 1
  elseif cache == "REVALIDATED" then
    revalidated = revalidated + 1
  elseif cache == "PASS" then
    pass = pass + 1
  else
    nocache = nocache + 1
  end
  seen = seen + 1
  if seen >= quota and not stopped then
    stopped = true
    io.stderr:write("THREAD_DONE\n")
    wrk.thread:stop()
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

function done(summary, latency, requests)
  local names = { "n206", "n200", "n416", "nbad", "hit", "miss", "partial", "revalidated", "pass", "nocache" }
  local sums, bads = {}, {}
  for _, name in ipairs(names) do sums[name] = 0 end
  for _, thread in ipairs(threads) do
    for _, name in ipairs(names) do sums[name] = sums[name] + (thread:get(name) or 0) end
    for line in string.gmatch(thread:get("badtext") or "", "[^\n]+") do table.insert(bads, json_string(line)) end
  end
  local counts = {}
  for _, name in ipairs(names) do table.insert(counts, string.format('"%s":%d', name, sums[name])) end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"counts":{%s},"bad":[%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    table.concat(counts, ","), table.concat(bads, ",")))
end
