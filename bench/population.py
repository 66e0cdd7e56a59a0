"""The players a run ranks: one game of ``size`` players named ``<prefix><index in 7 digits>``.

lua/lib.lua names them the same way (``lib.player``), so wrk can draw any of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Backlog scores lie below this; the write loads of later phases submit scores above it.
SCORE_CEILING = 1_000_000_000


@dataclass(frozen=True)
class Population:
    game_id: str
    size: int
    prefix: str = "p"

    def player(self, index: int) -> str:
        return f"{self.prefix}{index:07d}"

    def scores(self, seed: int = 5) -> list[int]:
        """One score per player, spread over [0, SCORE_CEILING) and the same for every run."""
        draw = random.Random(seed)
        return [draw.randrange(SCORE_CEILING) for _ in range(self.size)]
