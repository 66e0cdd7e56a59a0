"""The Kafka topic every accepted score submission goes through."""

from __future__ import annotations

import faust

from leaderboard_app.settings import SCORE_UPDATES_TOPIC


def score_updates_topic(app: faust.App) -> faust.TopicT:
    """Declare ``score_updates``: key = ``models.player_key``, value = ``ScoreSubmission.to_bytes``.

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
        key_serializer="raw",
        value_serializer="raw",
        partitions=app.conf.topic_partitions,
        # internal: Faust declares the topic at start-up with these partitions,
        # instead of leaving it to the broker's auto-creation defaults.
        internal=True,
    )
