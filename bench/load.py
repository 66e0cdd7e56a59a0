"""HTTP load with wrk: one single-threaded wrk per base URL, run side by side, their reports merged.

Each wrk runs a script of lua/ (settings in ``BENCH_*`` environment variables) whose done()
writes a JSON report: the request and error counts and the latency at every 0.1 % (0.01 %
above 99.9 %). The reports of the wrk processes are merged into one latency distribution,
weighted by their request counts. wrk's own CPU time, from wait4(), says whether the load
generator could have been the bottleneck.

Only responses below 400 count as served; 4xx/5xx answers and socket errors are reported
apart. Latency is measured by wrk from send to answer (no correction for coordinated
omission: at a paced rate, a send delayed behind a slow answer does not add its wait).
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
#: An answer slower than this counts as a timeout error (wrk's default is 2 s).
REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True)
class WrkReport:
    """What one wrk process measured (its done() report)."""

    requests: int
    seconds: float
    errors: dict[str, int]
    #: (percentile, latency in microseconds), ascending.
    latency_us: list[tuple[float, float]]

    @classmethod
    def from_json(cls, data: Mapping) -> WrkReport:
        return cls(requests=int(data["requests"]), seconds=data["duration_us"] / 1e6,
                   errors={name: int(count) for name, count in data["errors"].items()},
                   latency_us=[(float(p), float(v)) for p, v in data["latency_us"]])

    def share_at_or_below(self, latency_us: float) -> float:
        """The fraction of this run's answers that took at most ``latency_us``."""
        values = [v for _, v in self.latency_us]
        index = bisect.bisect_right(values, latency_us)
        return 0.0 if index == 0 else self.latency_us[index - 1][0] / 100.0


def merged_percentile(reports: Sequence[WrkReport], percentile: float) -> float | None:
    """The latency (µs) at ``percentile`` of all answers of ``reports`` together, or None without answers.

    The merged distribution is the request-weighted mixture of the reports' own; the answer
    is the smallest latency any report lists at which the mixture reaches ``percentile``.
    """
    weighted = [(r, r.requests) for r in reports if r.requests > 0 and r.latency_us]
    total = sum(weight for _, weight in weighted)
    if not total:
        return None
    target = percentile / 100.0 - 1e-9
    candidates = sorted({v for r, _ in weighted for _, v in r.latency_us})
    low, high = 0, len(candidates) - 1
    while low < high:
        middle = (low + high) // 2
        share = sum(weight * r.share_at_or_below(candidates[middle]) for r, weight in weighted) / total
        if share >= target:
            high = middle
        else:
            low = middle + 1
    return candidates[low]


@dataclass(frozen=True)
class LoadResult:
    """One load run over every base URL together."""

    #: Answers below 400 per second.
    ok_per_s: float
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    #: wrk's CPU time over the run's wall time and all the machine's cores (1.0 = every core).
    wrk_cpu_share: float
    connections: int
    rate_asked: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_json(self) -> dict:
        return {
            "ok_per_s": round(self.ok_per_s, 1), "requests": self.requests, "seconds": round(self.seconds, 2),
            "errors": self.errors, "p50_ms": _ms(self.p50_ms), "p99_ms": _ms(self.p99_ms),
            "max_ms": _ms(self.max_ms), "wrk_cpu_share": round(self.wrk_cpu_share, 3),
            "connections": self.connections, "rate_asked": self.rate_asked, **self.extra,
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def combine(reports: Sequence[WrkReport], wrk_cpu_seconds: float, wall_seconds: float, connections: int,
            rate: float | None) -> LoadResult:
    """One result from the reports of wrk processes that ran side by side."""
    errors: dict[str, int] = {}
    for report in reports:
        for name, count in report.errors.items():
            errors[name] = errors.get(name, 0) + count
    requests = sum(r.requests for r in reports)
    seconds = max((r.seconds for r in reports), default=wall_seconds)
    ok = requests - errors.get("status", 0)

    def at(percentile: float) -> float | None:
        value = merged_percentile(reports, percentile)
        return None if value is None else value / 1000.0

    return LoadResult(
        ok_per_s=ok / seconds if seconds else 0.0, requests=requests, seconds=seconds, errors=errors,
        p50_ms=at(50), p99_ms=at(99), max_ms=at(100),
        wrk_cpu_share=wrk_cpu_seconds / (wall_seconds * (os.cpu_count() or 1)) if wall_seconds else 0.0,
        connections=connections, rate_asked=rate,
    )


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed: run `make bench`, which installs it (apt-get install wrk)")
    return found


class Load:
    """Runs wrk scripts against a set of base URLs, presenting ``api_key`` if any."""

    def __init__(self, base_urls: Sequence[str], api_key: str | None = None) -> None:
        if not base_urls:
            raise ValueError("at least one base URL is needed")
        self.base_urls = [url.rstrip("/") for url in base_urls]
        self.api_key = api_key

    def run(self, script: str, path: str = "/", *, seconds: float, connections: int, rate: float | None = None,
            env: Mapping[str, str] | None = None, urls: Sequence[str] | None = None) -> LoadResult:
        """Run ``lua/<script>.lua`` for ``seconds``, ``connections`` in all, split over the URLs.

        ``rate`` (requests per second in all) paces the run; without it wrk goes as fast as
        the answers come.
        """
        targets = [url.rstrip("/") for url in (urls or self.base_urls)]
        per_url = max(1, connections // len(targets))
        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
            processes = []
            started = time.monotonic()
            for instance, url in enumerate(targets):
                report = Path(folder) / f"wrk-{instance}.json"
                command = [wrk_binary(), "-t1", f"-c{per_url}", f"-d{max(1, round(seconds))}s",
                           f"--timeout={REQUEST_TIMEOUT_S}s", "-s", str(LUA_DIR / f"{script}.lua")]
                if self.api_key:
                    command += ["-H", f"Authorization: Bearer {self.api_key}"]
                command.append(url + path)
                process_env = {**os.environ, "LUA_PATH": f"{LUA_DIR}/?.lua;;", "BENCH_REPORT": str(report),
                               "BENCH_INSTANCE": str(instance), **(env or {})}
                if rate:
                    process_env["BENCH_RATE"] = str(rate / len(targets))
                log = open(Path(folder) / f"wrk-{instance}.log", "wb")
                processes.append((subprocess.Popen(command, env=process_env, stdout=log, stderr=subprocess.STDOUT),
                                  report, log))
            cpu = 0.0
            try:
                for process, _, _ in processes:
                    # wait4 hands back the child's own CPU time, which /proc no longer has once it exited.
                    _, status, usage = os.wait4(process.pid, 0)
                    process.returncode = os.waitstatus_to_exitcode(status)
                    cpu += usage.ru_utime + usage.ru_stime
            finally:
                for process, _, log in processes:
                    if process.returncode is None:
                        process.kill()
                        process.wait()
                    log.close()
            wall = time.monotonic() - started
            reports = []
            for process, report, _ in processes:
                if process.returncode != 0 or not report.exists():
                    output = (report.parent / f"{report.stem}.log").read_text(errors="replace")
                    raise RuntimeError(f"wrk failed (exit {process.returncode}): {' '.join(process.args)}\n{output}")
                reports.append(WrkReport.from_json(json.loads(report.read_text())))
        return combine(reports, cpu, wall, per_url * len(targets), rate)
