-- POST /score to $BENCH_GAME. Without $BENCH_PLAYERS every request is a new player
-- (PREFIX<instance>-<n>); with it, a player drawn at random from the population ($BENCH_PLAYERS
-- from index $BENCH_FIRST). Scores are $BENCH_SCORE_BASE plus a rising counter: above every
-- score of the population, so nearly every submission raises its player's score.
local lib = require("lib")

local game = lib.env("BENCH_GAME")
local prefix = lib.env("BENCH_USER_PREFIX")
local instance = lib.env("BENCH_INSTANCE", "0")
local first = lib.number("BENCH_FIRST", 0)
local players = lib.number("BENCH_PLAYERS", 0)
local base = lib.number("BENCH_SCORE_BASE", 0)
local sent = 0

function init(args)
  math.randomseed(os.time() + tonumber(instance))
end

request = function()
  sent = sent + 1
  local user
  if players > 0 then
    user = lib.player(prefix, first + math.random(0, players - 1))
  else
    user = string.format("%s%s-%d", prefix, instance, sent)
  end
  local body = string.format('{"gameId":"%s","userId":"%s","score":%.0f}', game, user, base + sent)
  return wrk.format("POST", "/score", lib.json_headers(), body)
end

delay = lib.pacer(lib.number("BENCH_RATE", 0))
done = lib.report
