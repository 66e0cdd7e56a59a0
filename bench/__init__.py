"""The benchmark harness of issue #5: ``make bench`` (``python -m bench.run``).

One run measures, on one machine, the service and the limits it sits on:

    limits.py     Redis (redis-benchmark), Kafka (ProducerPerformance), a bare aiohttp server
    pipeline.py   a backlog produced straight to score_updates, drained into Redis and Cassandra
    query.py      GET /topk and /rank over the backlog's players
    freshness.py  time from a 202 to the score showing in /rank, under a steady write load
    ingest.py     POST /score and POST /scores
    report.py     bench/results/latest.json (+ a dated copy), latest.png, a row of bench/RESULTS.md

workers.py starts and stops the service's workers, load.py drives wrk (scripts in lua/),
machine.py reads /proc and git, progress.py prints what is going on.
"""
