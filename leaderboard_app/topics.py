"""The Kafka topics: score submissions (and deletions), and game rules."""

from __future__ import annotations

import faust

from leaderboard_app.settings import DEAD_LETTER_TOPIC, GAME_RULE_UPDATES_TOPIC, SCORE_UPDATES_TOPIC


def score_updates_topic(app: faust.App) -> faust.TopicT:
    """Declare ``score_updates``: key = ``models.player_key``, value = a ScoreSubmission or PlayerDeletion.

    Keys and values are raw bytes, encoded and decoded by ``models``, so that one
    set of rules validates a submission at the HTTP edge and on the topic, and a
    malformed record reaches the agent instead of failing inside Faust.
    The key is the (gameId, userId) pair, so every update of one player lands on
    one partition, in order, with the table partition that holds the player.
    """
    return app.topic(
        SCORE_UPDATES_TOPIC,
        key_type=bytes,
        value_type=bytes,
        value_serializer="raw",
        partitions=app.conf.topic_partitions,
        # internal: Faust declares the topic at start-up with these partitions,
        # instead of leaving it to the broker's auto-creation defaults.
        internal=True,
    )


def dead_letter_topic(app: faust.App) -> faust.TopicT:
    """Declare ``score_updates.dlq``: malformed records of ``score_updates``, as they were,
    with an ``error`` header saying what is wrong with them."""
    return app.topic(
        DEAD_LETTER_TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw",
        partitions=app.conf.topic_partitions, internal=True,
    )


def game_rule_updates_topic(app: faust.App) -> faust.TopicT:
    """Declare ``game_rule_updates``: key = gameId (UTF-8), value = ``{"rules", "atUs"}``.

    Rules change rarely, so one partition keeps them in one order.
    """
    return app.topic(
        GAME_RULE_UPDATES_TOPIC, key_type=bytes, value_type=bytes, value_serializer="raw",
        partitions=1, internal=True,
    )
