"""The agents: score_updates -> player_scores table -> Redis and Cassandra;
game_rule_updates -> game_rules global table -> Cassandra."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import faust
import orjson

from leaderboard_app.errors import InvalidInput
from leaderboard_app.models import (
    PlayerDeletion,
    PlayerState,
    ScoreSubmission,
    SeasonScore,
    decode_update,
    parse_rules,
    player_key,
)
from leaderboard_app.scoring import apply_submission
from leaderboard_app.seasons import closes_at_us
from leaderboard_app.sinks.redis import PlayerWrite

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)


def _profile_change(state: PlayerState, submission: ScoreSubmission) -> dict[str, Any] | None:
    """Return the player's new profile if the submission changes it, else None."""
    display_name = submission.display_name if submission.display_name is not None else state.display_name
    metadata = submission.metadata if submission.metadata is not None else state.metadata
    if (display_name, metadata) == (state.display_name, state.metadata):
        return None
    return {"displayName": display_name, "metadata": metadata}


class ScoreApplier:
    """Applies the records of ``score_updates`` to the table and the sinks, each exactly once.

    The table is updated first, then Redis is written (awaited: the record stays
    unacknowledged until the index has it), and Cassandra is handed the change to
    write in the background, so Redis never waits for Cassandra.

    Exactly-once effect (see docs/exactly-once.md): the player's table entry
    remembers the offset of the last record applied to it. Faust publishes
    changelog writes before it commits the source offset, so after a crash every
    record above the committed offset comes again: one at or below the remembered
    offset is a replay whose effect the state already holds, and only its sink
    writes (absolute values, idempotent) are repeated. Client retries carry the
    same eventId and are recognised by the ids the entry remembers for 24 h.
    """

    def __init__(self, app: LeaderboardApp, table: faust.Table) -> None:
        self.app = app
        self.table = table
        self.redis = app.redis_leaderboard
        self.archive = app.archive

    async def apply(self, key: bytes | None, raw: bytes, partition: int, offset: int) -> None:
        """Apply one record found at ``partition``/``offset``."""
        try:
            update = decode_update(raw)
            if key != player_key(update.game_id, update.user_id):
                # A record keyed otherwise sits on a partition that does not own
                # this player: applying it could race the owner of its state.
                raise InvalidInput("key", "does not match the record's gameId and userId")
        except InvalidInput as exc:
            await self._dead_letter(key, raw, partition, offset, exc)
            return
        stored = self.table.get(key)
        state = PlayerState.from_bytes(stored) if stored else PlayerState()
        if isinstance(update, PlayerDeletion):
            await self._delete(key, state, update, partition, offset)
        elif offset <= state.offset:
            await self._replay(key, state, update, partition, offset)
        elif (seen := state.seen_event(update.event_id, update.accepted_at_us)) is not None:
            await self._repeat(key, state, update, partition, offset, seen[1])
        else:
            await self._score(key, state, update, partition, offset)

    async def _dead_letter(self, key: bytes | None, raw: bytes, partition: int, offset: int,
                           error: InvalidInput) -> None:
        self.app.malformed_records += 1
        logger.warning("malformed record at score_updates[%d]@%d sent to %s: %s",
                       partition, offset, self.app.dead_letter_topic.get_topic_name(), error)
        await self.app.dead_letter_topic.send(key=key, value=raw, headers={"error": str(error).encode()})
        await self.redis.mark_applied(partition, offset + 1)

    async def _score(self, key: bytes, state: PlayerState, submission: ScoreSubmission, partition: int,
                     offset: int) -> None:
        season_state = apply_submission(state.seasons.get(submission.season), submission)
        profile = _profile_change(state, submission)
        updated = replace(state, offset=offset)
        if season_state is not None:
            updated = updated.with_season(submission.season, season_state)
        if profile is not None:
            updated = replace(updated, display_name=profile["displayName"], metadata=profile["metadata"])
        if submission.event_id:
            updated = updated.remember_event(submission.event_id, submission.accepted_at_us, None)
        self.table[key] = updated.to_bytes()
        await self._write_sinks(submission, season_state, profile, partition, offset)
        if submission.reply_to:
            answer = await self._answer(submission)
            if submission.event_id:
                # A retry with wait=true gets the answer the first one got.
                updated = updated.remember_event(submission.event_id, submission.accepted_at_us, answer)
                self.table[key] = updated.to_bytes()
            await self.redis.send_reply(submission.reply_to, answer)

    async def _replay(self, key: bytes, state: PlayerState, submission: ScoreSubmission, partition: int,
                      offset: int) -> None:
        # Rewriting the entry puts it in the changelog again before this offset is
        # committed, in case the crash came between the local store and the changelog.
        self.table[key] = state.to_bytes()
        await self._write_sinks(submission, state.seasons.get(submission.season), state.profile(), partition, offset)
        if submission.reply_to:
            await self.redis.send_reply(submission.reply_to, await self._answer(submission))

    async def _repeat(self, key: bytes, state: PlayerState, submission: ScoreSubmission, partition: int,
                      offset: int, first_answer: dict[str, Any] | None) -> None:
        self.table[key] = replace(state, offset=offset).to_bytes()
        await self.redis.mark_applied(partition, offset + 1)
        if submission.reply_to:
            await self.redis.send_reply(submission.reply_to, first_answer or await self._answer(submission))

    async def _write_sinks(self, submission: ScoreSubmission, season_state: SeasonScore | None,
                           profile: dict[str, Any] | None, partition: int, offset: int) -> None:
        write = PlayerWrite(
            game_id=submission.game_id, user_id=submission.user_id, activity_us=submission.accepted_at_us,
            season=submission.season, state=season_state, order=submission.rules.order, profile=profile,
            closes_at_us=closes_at_us(submission.rules.reset, submission.season, self.app.settings.season_grace_us),
        )
        await self.redis.apply(write, partition, offset + 1)
        self.archive.record_submission(submission.game_id, submission.user_id, submission.score, submission.season,
                                       submission.achieved_at_us, submission.accepted_at_us)
        if season_state is not None:
            self.archive.record_score(submission.game_id, submission.season, submission.user_id, season_state)

    async def _answer(self, submission: ScoreSubmission) -> dict[str, Any]:
        standing = await self.redis.rank_for(submission.game_id, submission.season, submission.rules.order,
                                             submission.user_id)
        answer: dict[str, Any] = {"status": "applied", "season": submission.season}
        if standing is not None:
            answer.update(rank=standing.player.rank, score=standing.player.score)
        return answer

    async def _delete(self, key: bytes, state: PlayerState, deletion: PlayerDeletion, partition: int,
                      offset: int) -> None:
        # The entry stays, empty, so that it still knows its offset and eventIds;
        # the rest is idempotent, so a replayed deletion simply runs again.
        self.table[key] = PlayerState(offset=max(offset, state.offset), events=state.events).to_bytes()
        seasons = await self.redis.remove_player(deletion.game_id, deletion.user_id, partition, offset + 1)
        self.archive.record_deletion(deletion.game_id, deletion.user_id, seasons, deletion.accepted_at_us)
        if deletion.reply_to:
            await self.redis.send_reply(deletion.reply_to, {"status": "deleted", "gameId": deletion.game_id})


def register_agents(app: LeaderboardApp) -> None:
    """Attach the agents to ``app``."""
    applier = ScoreApplier(app, app.player_scores)

    @app.agent(app.score_updates_topic, name="apply_score_updates")
    async def apply_score_updates(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            try:
                async with app.index_lock:
                    await applier.apply(event.key, event.value, message.partition, message.offset)
                # Only once the changelog holds the new state may this offset be committed.
                await app.player_scores.changelog_written()
            except Exception as exc:
                # Faust acks the record of an agent that raises, and its offset would
                # be committed without its state in the changelog: stop the worker
                # instead, so the record is applied again by whoever takes the partition.
                logger.critical("could not apply score_updates[%d]@%d (%r): stopping the worker",
                                message.partition, message.offset, exc)
                await app.crash(exc)
                raise

    @app.agent(app.game_rule_updates_topic, name="apply_game_rules")
    async def apply_game_rules(stream: faust.StreamT) -> None:
        async for key, raw in stream.items():
            try:
                data = orjson.loads(raw)
                rules = parse_rules(data["rules"])
                at_us = int(data["atUs"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidInput) as exc:
                app.malformed_records += 1
                logger.warning("skipping malformed record on game_rule_updates: %s", exc)
                continue
            game_id = key.decode("utf-8")
            app.game_rules[key] = rules.to_bytes()
            await app.redis_leaderboard.set_rules(game_id, rules.to_bytes(), at_us)
            app.archive.record_rules(game_id, rules, at_us)
