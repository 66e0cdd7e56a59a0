"""Load whose every answer is recorded, and the check that the totals match those answers.

Clients submit scores to four games (one per operator) while something fails; each
submission's outcome is kept: "acked" (a 202), "refused" (it surely never reached
Kafka) or "unknown" (no answer: it may or may not have). Afterwards every player's
score, in Redis through each worker and in Cassandra, must be what the acked
submissions make it, each applied once, with unknown ones applied at most once.
Shared by the SIGKILL tests of one machine and the cluster's failure tests.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import httpx

from tests.conftest import eventually

OPERATORS = ("incr", "decr", "best", "set")
#: Per player: (outcome, the client's sequence number, value) of each submission, in order.
Sequence_ = dict[tuple[str, str], list[tuple[str, int, int]]]


def run_clients(urls: Sequence[str], connect: Callable[[str], httpx.Client], games: dict[str, str],
                users: list[str], seconds: float, duplicate: bool = False,
                disrupt: Callable[[float], None] | None = None, answers: Counter[str] | None = None,
                timeline: list[tuple[float, str]] | None = None) -> Sequence_:
    """Send scores from four clients for ``seconds`` while ``disrupt(seconds)`` runs beside them.

    Each player's submissions are sequential, so "set" has a well-defined last one.
    ``duplicate``: every submission is sent twice (same eventId), as a client retrying.
    ``answers`` counts what the clients got: each HTTP status, or the exception's name;
    ``timeline`` gets each of them with when it came (``time.monotonic()``).
    """
    answers = Counter() if answers is None else answers
    sequence: Sequence_ = defaultdict(list)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(share: list[str], seed: int) -> None:
        rng = random.Random(seed)
        with ExitStack() as stack:
            clients = [stack.enter_context(connect(url)) for url in urls]
            seq = 0
            while time.monotonic() < deadline:
                operator = rng.choice(OPERATORS)
                game, user = games[operator], rng.choice(share)
                value = rng.randint(1, 1000)
                seq += 1
                body = {"gameId": game, "userId": user, "score": value, "eventId": uuid.uuid4().hex}
                outcome = "refused"
                for _ in range(2 if duplicate else 1):
                    outcome, answer = send(rng.choice(clients), body, outcome)
                    with lock:
                        answers[answer] += 1
                        if timeline is not None:
                            timeline.append((time.monotonic(), answer))
                if outcome != "refused":
                    with lock:
                        sequence[(game, user)].append((outcome, seq, value))

    threads = [threading.Thread(target=client, args=(users[i::4], i)) for i in range(4)]
    if disrupt is not None:
        threads.append(threading.Thread(target=disrupt, args=(seconds,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sequence


def send(client: httpx.Client, body: dict[str, Any], previous: str) -> tuple[str, str]:
    """Post one submission: "acked" on 202, "refused" if it surely never reached Kafka, else
    "unknown"; and the answer (the status, or the exception's name)."""
    try:
        response = client.post("/score", json=body)
    except httpx.ConnectError as exc:
        outcome = "acked" if previous == "acked" else ("unknown" if previous == "unknown" else "refused")
        return outcome, type(exc).__name__
    except httpx.HTTPError as exc:
        return ("acked" if previous == "acked" else "unknown"), type(exc).__name__
    if response.status_code == 202:
        return "acked", "202"
    return ("acked" if previous == "acked" else "unknown"), str(response.status_code)


def acked_count(sequence: Sequence_) -> int:
    return sum(kind == "acked" for events in sequence.values() for kind, _, _ in events)


def allowed_scores(operator: str, events: list[tuple[str, int, int]]) -> set[int] | tuple[int, int]:
    """The scores a player may end with: every acked submission applied once, any unanswered at most once."""
    acked = [value for kind, _, value in events if kind == "acked"]
    unknown = [value for kind, _, value in events if kind == "unknown"]
    if operator in ("incr", "decr"):
        sign = 1 if operator == "incr" else -1
        low, high = sign * sum(acked), sign * (sum(acked) + sum(unknown))
        return (min(low, high), max(low, high))
    if operator == "best":
        floor = max(acked, default=None)
        return {v for v in ([floor] if floor is not None else []) + unknown if floor is None or v >= floor}
    last = max((seq for kind, seq, _ in events if kind == "acked"), default=0)
    finals = {value for kind, seq, value in events if kind == "acked" and seq == last}
    return finals | {value for kind, seq, value in events if kind == "unknown" and seq > last}


def check_totals(urls: Sequence[str], connect: Callable[[str], httpx.Client], games: dict[str, str],
                 sequence: Sequence_, stored_scores: Callable[[str, str], list[int]], timeout: float = 90) -> None:
    """Every player's score, through every worker and as ``stored_scores(game, user)`` (Cassandra)
    reads it, is one the answers allow; a player none of whose submissions was acked may be absent."""
    operator_of = {game: operator for operator, game in games.items()}
    with ExitStack() as stack:
        clients = [stack.enter_context(connect(url)) for url in urls]
        for (game, user), events in sequence.items():
            allowed = allowed_scores(operator_of[game], events)

            def matches(score: int) -> bool:
                if isinstance(allowed, tuple):
                    return allowed[0] <= score <= allowed[1]
                return score in allowed

            def settled() -> None:
                answers = [client.get(f"/rank/{user}", params={"gameId": game}) for client in clients]
                if not any(kind == "acked" for kind, _, _ in events) and all(a.status_code == 404 for a in answers):
                    return
                assert [a.status_code for a in answers] == [200] * len(clients), (game, user, events)
                scores = {a.json()["score"] for a in answers}
                assert len(scores) == 1 and matches(min(scores)), (game, user, scores, allowed, events)
                stored = stored_scores(game, user)
                assert stored == [min(scores)], (game, user, stored, scores)

            eventually(settled, timeout=timeout, interval=0.5)
