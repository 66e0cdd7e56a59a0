"""Secondary sort columns: up to three integer columns a game ranks by after its score.

A game declares them in its rules (``"columns": [{"name": "time", "order": "asc"}]``); each
submission then carries a value for every one (``"columns": {"time": 5234}``). Players are
ranked by the tuple (score, columns...), each element in its own order, and only then by the
earliest-first tie rule; equal tuples share a rank.

Values are signed 64-bit integers, exact everywhere: Redis keeps only the score in its double,
and the columns travel in the sorted-set member as fixed-width hex (:func:`encode_prefix`), so
the member order within one score is the columns' order.

How a submission merges into the player's columns follows each column's ``operator``. In a
game whose operator is ``best`` the whole tuple of the better submission is kept, so a
submission's columns stay together; there every column's operator is ``best`` too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leaderboard_app.errors import InvalidInput

MAX_COLUMNS = 3
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: Hex digits of one column in a sorted-set member.
COLUMN_DIGITS = 16
_UINT64_MAX = 2**64 - 1
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FIELDS = ("name", "order", "operator")
_ORDERS = ("desc", "asc")
_OPERATORS = ("best", "set", "incr", "decr")


@dataclass(frozen=True, slots=True)
class SortColumn:
    """One column a game ranks by after its score."""

    name: str
    #: "desc": higher ranks first; "asc": lower ranks first (a finishing time).
    order: str = "desc"
    #: How a submission's value merges into the player's (as a game's operator does its score);
    #: None (in rules a client builds): the game's operator, which parsed rules always spell out.
    operator: str | None = None

    def as_json(self) -> dict[str, str]:
        found = {"name": self.name, "order": self.order}
        if self.operator is not None:
            found["operator"] = self.operator
        return found


def parse_columns(value: Any, game_operator: str) -> tuple[SortColumn, ...]:
    """Validate the ``columns`` of a game's rules; a column's operator defaults to the game's."""
    if not isinstance(value, list) or len(value) > MAX_COLUMNS:
        raise InvalidInput("columns", f"must be a JSON array of at most {MAX_COLUMNS} column objects")
    columns: list[SortColumn] = []
    for index, item in enumerate(value):
        where = f"columns[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(where, "must be an object with name, order and optionally operator")
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise InvalidInput(f"{where}.{unknown[0]}", f"is not a column field ({', '.join(_FIELDS)})")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(f"{where}.name",
                               "must be 1 to 32 lower-case letters, digits or '_', starting with a letter")
        if any(column.name == name for column in columns):
            raise InvalidInput(f"{where}.name", f"repeats the column {name!r}")
        order = item.get("order", "desc")
        if order not in _ORDERS:
            raise InvalidInput(f"{where}.order", f"must be one of {', '.join(_ORDERS)}")
        operator = item.get("operator", game_operator)
        if operator not in _OPERATORS:
            raise InvalidInput(f"{where}.operator", f"must be one of {', '.join(_OPERATORS)}")
        if game_operator == "best" and operator != "best":
            raise InvalidInput(f"{where}.operator", "must be best in a game whose operator is best: the whole"
                                                    " (score, columns) tuple of the better submission is kept")
        columns.append(SortColumn(name, order, operator))
    return tuple(columns)


def parse_column_values(value: Any, declared: Sequence[SortColumn]) -> tuple[int, ...]:
    """A submission's ``columns`` (name -> integer), as values in the game's declared order.

    Every declared column is required: a missing one would rank as some arbitrary value.
    """
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidInput("columns", "must be a JSON object of column name -> integer")
    names = [column.name for column in declared]
    for name in value:
        if name not in names:
            allowed = ", ".join(names) if names else "none; declare them with PUT /games/{gameId} columns"
            raise InvalidInput(f"columns.{name}", f"is not a column of this game (declared: {allowed})")
    values = []
    for name in names:
        if name not in value:
            raise InvalidInput(f"columns.{name}", "is required: the game ranks by it after the score")
        values.append(check_value(f"columns.{name}", value[name]))
    return tuple(values)


def check_value(field: str, value: Any) -> int:
    """``value`` if it is a signed 64-bit integer, else raise InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(field, f"must be an integer from {INT64_MIN} to {INT64_MAX}")
    return value


def as_named(columns: Sequence[SortColumn], values: Sequence[int]) -> dict[str, int]:
    return {column.name: value for column, value in zip(columns, values)}


def is_ahead(order: str, columns: Sequence[SortColumn], score: int, values: Sequence[int],
             than_score: int, than_values: Sequence[int]) -> bool:
    """Whether (score, values) ranks strictly above (than_score, than_values)."""
    return rank_key(order, columns, score, values) > rank_key(order, columns, than_score, than_values)


def rank_key(order: str, columns: Sequence[SortColumn], score: int, values: Sequence[int]) -> tuple[int, ...]:
    """A tuple that is greater for whoever ranks higher."""
    return (score if order == "desc" else -score,
            *(value if column.order == "desc" else -value for column, value in zip(columns, values)))


def merged_values(columns: Sequence[SortColumn], previous: Sequence[int] | None,
                  submitted: Sequence[int]) -> tuple[int, ...]:
    """The player's columns after a submission, each by its own operator (games whose operator is not best)."""
    merged = []
    for index, (column, value) in enumerate(zip(columns, submitted)):
        before = previous[index] if previous is not None and index < len(previous) else None
        if column.operator == "incr":
            value = (before or 0) + value
        elif column.operator == "decr":
            value = (before or 0) - value
        elif column.operator == "best" and before is not None:
            value = max(value, before) if column.order == "desc" else min(value, before)
        # incr/decr are applied after the 202: an overflow saturates, as a score's does.
        merged.append(max(INT64_MIN, min(INT64_MAX, value)))
    return tuple(merged)


def encode_prefix(order: str, columns: Sequence[SortColumn], values: Sequence[int]) -> bytes:
    """The columns' part of a sorted-set member: 16 hex digits per column.

    Within one score, Redis orders members by their bytes, and a board of ``order``
    "desc" is read in reverse: a column whose order is the board's is written as is
    (offset to unsigned), one of the other order inverted, so that reading the board
    best first lists better columns first.
    """
    prefix = b""
    for column, value in zip(columns, values):
        unsigned = value - INT64_MIN
        prefix += b"%016x" % (unsigned if column.order == order else _UINT64_MAX - unsigned)
    return prefix


def decode_prefix(order: str, columns: Sequence[SortColumn], member: bytes) -> tuple[int, ...]:
    """The column values of a sorted-set member (see :func:`encode_prefix`)."""
    values = []
    for index, column in enumerate(columns):
        unsigned = int(member[index * COLUMN_DIGITS:(index + 1) * COLUMN_DIGITS], 16)
        if column.order != order:
            unsigned = _UINT64_MAX - unsigned
        values.append(unsigned + INT64_MIN)
    return tuple(values)
