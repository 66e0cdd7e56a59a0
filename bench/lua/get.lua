-- GET wrk's URL as it is (GET /topk?..., GET /hello), as fast as possible or paced to $BENCH_RATE/s.
local lib = require("lib")

delay = lib.pacer(lib.number("BENCH_RATE", 0))
done = lib.report
