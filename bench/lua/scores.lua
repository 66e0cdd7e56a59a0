-- POST /scores to $BENCH_GAME: $BENCH_BATCH new players per request (PREFIX<instance>-<n>).
local lib = require("lib")

local game = lib.env("BENCH_GAME")
local prefix = lib.env("BENCH_USER_PREFIX")
local instance = lib.env("BENCH_INSTANCE", "0")
local batch = lib.number("BENCH_BATCH")
local sent = 0

request = function()
  local items = {}
  for i = 1, batch do
    sent = sent + 1
    items[i] = string.format('{"gameId":"%s","userId":"%s%s-%d","score":%d}', game, prefix, instance, sent, sent)
  end
  return wrk.format("POST", "/scores", lib.json_headers(), '{"scores":[' .. table.concat(items, ",") .. "]}")
end

delay = lib.pacer(lib.number("BENCH_RATE", 0))
done = lib.report
