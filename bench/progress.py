"""What the run prints: one short line per step, with the time since the run began."""

from __future__ import annotations

import time

import click

_STARTED = time.monotonic()


def elapsed() -> float:
    """Seconds since the run began."""
    return time.monotonic() - _STARTED


def say(message: str) -> None:
    minutes, seconds = divmod(int(elapsed()), 60)
    click.echo(f"[bench {minutes:02d}:{seconds:02d}] {message}")


def warn(message: str) -> None:
    minutes, seconds = divmod(int(elapsed()), 60)
    click.secho(f"[bench {minutes:02d}:{seconds:02d}] WARNING: {message}", fg="yellow", err=True)
