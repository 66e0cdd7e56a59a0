"""The population over HTTP, for a service the run did not start (``--base-url``) or a run
without the pipeline phase: one POST /score per player (the original API has no batches),
then every 100th player read back on /rank until it shows."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import aiohttp
import click

from bench.progress import say
from leaderboard_app.loadgen import Population

CONCURRENCY = 64
VISIBLE_TIMEOUT_S = 300.0


async def _populate(urls: list[str], api_key: str | None, population: Population) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    scores = population.scores()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(population.size):
        queue.put_nowait(index)
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as session:
        with click.progressbar(length=population.size, label=f"submitting {population.size} players") as bar:
            async def submit(worker: int) -> None:
                url = urls[worker % len(urls)]
                while not queue.empty():
                    index = queue.get_nowait()
                    body = {"gameId": population.game_id, "userId": population.player(index), "score": scores[index]}
                    async with session.post(f"{url}/score", json=body) as response:
                        if response.status != 202:
                            raise RuntimeError(f"POST /score answered {response.status}: {await response.text()}")
                    bar.update(1)

            await asyncio.gather(*(submit(n) for n in range(CONCURRENCY)))
        deadline = time.monotonic() + VISIBLE_TIMEOUT_S
        for index in range(population.size - 1, -1, -100):
            path = f"{urls[0]}/rank/{quote(population.player(index), safe='')}"
            while True:
                async with session.get(path, params={"gameId": population.game_id}) as response:
                    if response.status == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{population.player(index)} not ranked within {VISIBLE_TIMEOUT_S:g} s")
                await asyncio.sleep(0.1)


def populate_over_http(urls: list[str], api_key: str | None, population: Population) -> float:
    """Submit the population; return the seconds it took until it was ranked."""
    started = time.monotonic()
    asyncio.run(_populate(urls, api_key, population))
    seconds = time.monotonic() - started
    say(f"{population.size} players submitted and ranked in {seconds:.1f} s")
    return seconds
