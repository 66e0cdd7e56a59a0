"""Tiers (leagues): named bands of a board cut by rank, percentile or score. Pure, no I/O.

A game declares its tiers best first, each with one cut-off:

    {"name": "champion", "top": 10}        the players ranked 10th or better
    {"name": "gold", "top": "1%"}          ranked within the best 1 % (rank <= ceil(players x 1 / 100))
    {"name": "silver", "score": 5000}      a score of 5,000 or better ("asc" games: 5,000 or lower)
    {"name": "wood"}                       everyone else (only as the last tier)

A player is in the first tier whose cut-off they meet. Every cut-off is met by a
prefix of the board (whoever is better than a player meets every cut-off that
player meets), so each tier is one contiguous run of the ranking, and a tier's run
starts where the longest prefix of the tiers above it ends. Ties never split: players
with equal scores share a rank, so they share a tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from leaderboard_app.errors import InvalidInput

MAX_TIERS = 10
MAX_TIER_NAME_LENGTH = 32
_TIER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,31}")
_PERCENT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,4})?%")


@dataclass(frozen=True, slots=True)
class Tier:
    """One tier: its name and cut-off (``kind`` "rank", "percent", "score", or "rest" for none)."""

    name: str
    kind: str
    #: The rank (``rank``), the score (``score``), or the percentage as a decimal string (``percent``).
    value: int | str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.kind == "rank":
            return {"name": self.name, "top": self.value}
        if self.kind == "percent":
            return {"name": self.name, "top": f"{self.value}%"}
        if self.kind == "score":
            return {"name": self.name, "score": self.value}
        return {"name": self.name}

    def rank_limit(self, total: int) -> int | None:
        """The worst rank inside a rank or percentile tier on a board of ``total`` players (None: a score tier)."""
        if self.kind == "rank":
            return int(self.value)  # type: ignore[arg-type]
        if self.kind == "percent":
            share = Fraction(Decimal(str(self.value))) / 100
            return -((-total * share.numerator) // share.denominator)  # ceil without floats
        if self.kind == "rest":
            return total
        return None


def parse_tiers(value: Any, max_abs_score: int) -> tuple[Tier, ...]:
    """Validate a game's ``tiers`` (a JSON array, best tier first)."""
    if not isinstance(value, list):
        raise InvalidInput("tiers", "must be a JSON array of {name, top | score} objects")
    if len(value) > MAX_TIERS:
        raise InvalidInput("tiers", f"must hold at most {MAX_TIERS} tiers")
    tiers = tuple(_parse_tier(index, item, max_abs_score) for index, item in enumerate(value))
    names = [tier.name for tier in tiers]
    for index, tier in enumerate(tiers):
        if names.index(tier.name) != index:
            raise InvalidInput(f"tiers[{index}].name", f"repeats the tier name {tier.name!r}")
        if tier.kind == "rest" and index != len(tiers) - 1:
            raise InvalidInput(f"tiers[{index}]", "has no cut-off (top or score): only the last tier may")
    return tiers


def _parse_tier(index: int, item: Any, max_abs_score: int) -> Tier:
    where = f"tiers[{index}]"
    if not isinstance(item, dict):
        raise InvalidInput(where, "must be a JSON object")
    unknown = sorted(set(item) - {"name", "top", "score"})
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}", "is not a tier field (name, top, score)")
    name = item.get("name")
    if not isinstance(name, str) or not _TIER_NAME.fullmatch(name):
        raise InvalidInput(f"{where}.name", f"must be 1 to {MAX_TIER_NAME_LENGTH} letters, digits, spaces,"
                                            " '_', '.' or '-', starting with a letter or digit")
    if "top" in item and "score" in item:
        raise InvalidInput(where, "must have one cut-off: top or score, not both")
    if "top" in item:
        return _top_tier(f"{where}.top", name, item["top"])
    if "score" in item:
        score = item["score"]
        if isinstance(score, bool) or not isinstance(score, int) or abs(score) > max_abs_score:
            raise InvalidInput(f"{where}.score", f"must be an integer between -{max_abs_score} and {max_abs_score}")
        return Tier(name, "score", score)
    return Tier(name, "rest")


def _top_tier(where: str, name: str, top: Any) -> Tier:
    if isinstance(top, int) and not isinstance(top, bool):
        if not 1 <= top <= 10**9:
            raise InvalidInput(where, "must be a rank from 1 to 1000000000, or a percentage such as \"1%\"")
        return Tier(name, "rank", top)
    if isinstance(top, str) and _PERCENT.fullmatch(top) and 0 < Decimal(top[:-1]) <= 100:
        return Tier(name, "percent", top[:-1])
    raise InvalidInput(where, "must be a rank from 1 to 1000000000, or a percentage above 0% and up to 100%"
                              " such as \"1%\" or \"0.5%\"")


def reaches(order: str, score: int, cut_off: int) -> bool:
    """Whether ``score`` is ``cut_off`` or better in a game of ``order``."""
    return score <= cut_off if order == "asc" else score >= cut_off


def tier_index(tiers: tuple[Tier, ...], order: str, rank: int, score: int, total: int) -> int | None:
    """The index of the tier of a player of ``rank`` and ``score`` on a board of ``total`` (None: below every tier)."""
    for index, tier in enumerate(tiers):
        limit = tier.rank_limit(total)
        if (rank <= limit) if limit is not None else reaches(order, score, int(tier.value)):  # type: ignore[arg-type]
            return index
    return None


def tier_name(tiers: tuple[Tier, ...], order: str, rank: int, score: int, total: int) -> str | None:
    index = tier_index(tiers, order, rank, score, total)
    return None if index is None else tiers[index].name


def next_tier(tiers: tuple[Tier, ...], index: int | None) -> int | None:
    """The index of the tier above tier ``index`` (None: ``index`` is the best tier, or there are no tiers)."""
    if not tiers or index == 0:
        return None
    return len(tiers) - 1 if index is None else index - 1


def score_gap(order: str, score: int, needed: int) -> int:
    """Points a player of ``score`` lacks to reach ``needed`` (0 if they have it)."""
    return max(0, score - needed) if order == "asc" else max(0, needed - score)


def tier_span(prefix_lengths: list[int], index: int) -> tuple[int, int]:
    """The positions [start, end) of tier ``index``, given how many players meet each tier's cut-off."""
    start = max(prefix_lengths[:index], default=0)
    return start, max(start, prefix_lengths[index])
