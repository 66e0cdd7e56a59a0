"""Each game's rules in the worker's memory, kept true by the worker's Redis subscription.

Every request needs its game's rules (order, operator, reset), and reading them
from Redis took two of the three round trips of a ``/rank``. The rules agent
publishes the id of every game whose rules it writes (in the same pipeline as
the write), and this cache forgets a game when it hears of it
(leaderboard_app.subscriptions).

The invariant: an entry is served only while the subscription that would have
announced its change is live. Before the subscription is confirmed, and from the
moment it fails (messages may have been missed), the cache is empty and every read
goes to the loader; a subscription confirmed again starts from empty. A value
loaded while any change was heard is not kept, since it may predate that change.
So a worker serves old rules only for the time Redis takes to deliver a message,
and ``PUT /games`` answers once its own worker heard the change, which Redis
sent to every subscriber at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

#: What is cached: a game's rules, or a tournament's definition (app.tournament_cache).
Rules = TypeVar("Rules")

#: Games whose rules are kept; past it the least recently read go (ids are client input).
CAPACITY = 10_000


class GameRulesCache(Generic[Rules]):
    """``get(game_id)``: the game's rules, from memory while the subscription is live."""

    def __init__(self, load: Callable[[str], Awaitable[Rules]], capacity: int = CAPACITY) -> None:
        self._load = load
        self._capacity = capacity
        self._entries: OrderedDict[str, Rules] = OrderedDict()
        #: Bumped whenever a change is heard or the subscription starts or ends.
        self._generation = 0
        self._live = False

    @property
    def live(self) -> bool:
        """Whether entries are served (the subscription is confirmed and has not failed since)."""
        return self._live

    async def get(self, game_id: str) -> Rules:
        if self._live:
            rules = self._entries.get(game_id)
            if rules is not None:
                self._entries.move_to_end(game_id)
                return rules
        generation = self._generation
        rules = await self._load(game_id)
        if self._live and generation == self._generation:
            self._entries[game_id] = rules
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        return rules

    def forget(self, game_id: str) -> None:
        self._generation += 1
        self._entries.pop(game_id, None)

    def changed(self, message: bytes) -> None:
        """A message of the rules channel: the id of the game whose rules changed."""
        self.forget(message.decode("utf-8", "surrogatepass"))

    def set_live(self, live: bool) -> None:
        """The subscription was confirmed (True) or lost (False): start from empty either way."""
        self._generation += 1
        self._entries.clear()
        self._live = live
