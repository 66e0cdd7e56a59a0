"""POST /score: validate a submission and produce it to Kafka (HTTP -> topic)."""

from __future__ import annotations

import asyncio
import time

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import FaustError
from faust.web import Blueprint, Request, Response

from leaderboard_app.errors import BackendUnavailable
from leaderboard_app.models import ScoreSubmission, parse_json_object, parse_submission, player_key
from leaderboard_app.web.base import LeaderboardView, read_body

#: Largest accepted body of POST /score.
MAX_SCORE_BODY = 64 * 1024

blueprint = Blueprint("ingest")


async def produce_submission(topic: faust.TopicT, submission: ScoreSubmission, timeout: float) -> None:
    """Produce ``submission`` and wait until Kafka acknowledged it (``acks=all``).

    Raises BackendUnavailable if that takes longer than ``timeout`` seconds, so a
    client is never told "queued" for a record Kafka does not hold.
    """

    async def send_and_wait() -> None:
        acknowledgement = await topic.send(
            key=player_key(submission.game_id, submission.user_id), value=submission.to_bytes()
        )
        await acknowledgement

    try:
        await asyncio.wait_for(send_and_wait(), timeout)
    except asyncio.TimeoutError:
        raise BackendUnavailable(f"kafka did not acknowledge the score within {timeout:g} s") from None
    except (KafkaError, FaustError) as exc:
        raise BackendUnavailable(f"kafka: {exc or type(exc).__name__}") from exc


@blueprint.route("/score", name="score")
class ScoreView(LeaderboardView):
    async def post(self, request: Request) -> Response:
        """Queue one score; 202 once Kafka holds it."""
        body = await read_body(request, MAX_SCORE_BODY)
        submission = parse_submission(parse_json_object(body), accepted_at_us=time.time_ns() // 1000)
        app = self.leaderboard
        await produce_submission(app.score_updates_topic, submission, app.settings.kafka_ack_timeout)
        return self.json_response({"status": "queued"}, status=202)
