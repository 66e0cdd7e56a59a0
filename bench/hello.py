"""A bare aiohttp server, served the way Faust serves the workers' web views: an
``aiohttp.web.Application`` behind an ``AppRunner`` without access log and a ``TCPSite``
on the same host, on the default asyncio loop. Every path and method answers a small JSON
body (after reading the request body), so it is the ceiling any handler of the service sits under.

    python -m bench.hello --port 6091
"""

from __future__ import annotations

import asyncio
import signal

import click
from aiohttp import web

BODY = b'{"status":"ok"}'


async def hello(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


async def serve(host: str, port: int) -> None:
    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", hello)
    await serve_until_stopped(application, host, port)


async def serve_until_stopped(application: web.Application, host: str, port: int) -> None:
    """Serve ``application`` as Faust serves the workers' views, until SIGTERM or SIGINT."""
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
def main(host: str, port: int) -> None:
    asyncio.run(serve(host, port))


if __name__ == "__main__":
    main()
