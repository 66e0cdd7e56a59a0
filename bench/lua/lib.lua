-- Shared by the bench's wrk scripts (driven by bench/load.py): settings from the environment,
-- pacing to a rate, and the JSON report that bench/load.py reads back.
-- Player ids are PREFIX followed by the index in 7 digits, as leaderboard_app/loadgen.py makes them.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("bench_timespec")

local lib = {}

-- Seconds on the monotonic clock (plain Lua only has whole seconds).
function lib.now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

function lib.env(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    if default == nil then error("bench: environment variable " .. name .. " is not set") end
    return default
  end
  return value
end

function lib.number(name, default)
  return tonumber(lib.env(name, default ~= nil and tostring(default) or nil))
end

-- The headers of a write: those given with -H (the API key) plus its JSON Content-Type, which
-- the service requires (415). wrk.format uses the headers it is given instead of wrk.headers,
-- so they are copied in (once; wrk.format only updates Content-Length in them).
local write_headers
function lib.json_headers()
  if not write_headers then
    write_headers = {}
    for name, value in pairs(wrk.headers) do write_headers[name] = value end
    write_headers["Content-Type"] = "application/json"
  end
  return write_headers
end

function lib.player(prefix, index)
  return string.format("%s%07d", prefix, index)
end

-- A delay() holding this thread to `rate` requests per second on an absolute schedule (bench/load.py
-- runs one thread per wrk), so a slow answer is followed by quicker sends instead of lowering the
-- rate; nil (wrk's own: no delay) when rate is 0.
function lib.pacer(rate)
  if rate <= 0 then return nil end
  local start, sent = nil, 0
  return function()
    local now = lib.now()
    if start == nil then start = now end
    sent = sent + 1
    local wait = start + sent / rate - now
    if wait <= 0 then return 0 end
    return wait * 1000
  end
end

-- Latency percentiles reported: every 0.1 % and, above 99.9, every 0.01 %, so that the reports of
-- several wrk processes can be merged into one distribution.
local GRID = {}
for i = 1, 999 do GRID[#GRID + 1] = i / 10 end
for i = 1, 9 do GRID[#GRID + 1] = 99.9 + i / 100 end

-- done(): write what the run measured to $BENCH_REPORT as JSON.
function lib.report(summary, latency, requests)
  local points = {}
  for _, p in ipairs(GRID) do
    points[#points + 1] = string.format("[%.2f,%.0f]", p, latency:percentile(p))
  end
  points[#points + 1] = string.format("[100,%.0f]", latency.max)
  local e = summary.errors
  local file = assert(io.open(lib.env("BENCH_REPORT"), "w"))
  file:write(string.format(
    '{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},"latency_us":[%s]}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(points, ",")))
  file:close()
end

return lib
