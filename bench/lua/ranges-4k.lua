-- wrk script of `npm run bench` case 5: GET <path> with `Range: bytes=a-(a+4095)` at uniformly random offsets.
-- Arguments (after `--`): <path> <object size in bytes> [range length, default 4096].
-- done() prints one `WRK_RESULT {json}` line (bench/wrk.ts).

local path = "/"
local size = 0
local span = 4096

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  path = args[1]
  size = tonumber(args[2])
  span = tonumber(args[3] or "4096")
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  for _ = 1, 10 do math.random() end
end

function request()
  local start = math.floor(math.random() * (size - span + 1))
  return wrk.format("GET", path, { Range = "bytes=" .. start .. "-" .. (start + span - 1) })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
