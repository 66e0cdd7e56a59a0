-- GET /rank/{userId}?gameId=$BENCH_GAME for players drawn at random from the population
-- ($BENCH_PLAYERS players from index $BENCH_FIRST), as fast as possible or paced to $BENCH_RATE/s.
local lib = require("lib")

local game = lib.env("BENCH_GAME")
local prefix = lib.env("BENCH_USER_PREFIX")
local first = lib.number("BENCH_FIRST", 0)
local players = lib.number("BENCH_PLAYERS")

function init(args)
  math.randomseed(os.time() + lib.number("BENCH_INSTANCE", 0))
end

request = function()
  local user = lib.player(prefix, first + math.random(0, players - 1))
  return wrk.format("GET", "/rank/" .. user .. "?gameId=" .. game)
end

delay = lib.pacer(lib.number("BENCH_RATE", 0))
done = lib.report
