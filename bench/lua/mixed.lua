-- The soak's mixed load on $BENCH_GAME: 80 % reads (GET /rank/{userId} and GET /topk, half each)
-- and 20 % writes (POST /score raising a random player of the population: $BENCH_PLAYERS players
-- from index $BENCH_FIRST, scores above $BENCH_SCORE_BASE), as fast as possible or paced to $BENCH_RATE/s.
local lib = require("lib")

local game = lib.env("BENCH_GAME")
local prefix = lib.env("BENCH_USER_PREFIX")
local first = lib.number("BENCH_FIRST", 0)
local players = lib.number("BENCH_PLAYERS")
local base = lib.number("BENCH_SCORE_BASE", 0)
local sent = 0

function init(args)
  math.randomseed(os.time() + lib.number("BENCH_INSTANCE", 0))
end

request = function()
  sent = sent + 1
  local user = lib.player(prefix, first + math.random(0, players - 1))
  local draw = math.random()
  if draw < 0.2 then
    local body = string.format('{"gameId":"%s","userId":"%s","score":%.0f}', game, user, base + sent)
    return wrk.format("POST", "/score", lib.json_headers(), body)
  elseif draw < 0.6 then
    return wrk.format("GET", "/rank/" .. user .. "?gameId=" .. game)
  end
  return wrk.format("GET", "/topk?k=10&gameId=" .. game)
end

delay = lib.pacer(lib.number("BENCH_RATE", 0))
done = lib.report
