"""The agents: score_updates -> player_scores table -> Redis and Cassandra;
game_rule_updates -> game_rules global table -> Cassandra."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust
import orjson
from faust.types import TP, EventT

from leaderboard_app.batches import Applied, Intake, Taken, WrittenBehind, run_batches
from leaderboard_app.faust_compat import in_context_of, release_dropped
from leaderboard_app.errors import BackendUnavailable, InvalidInput
from leaderboard_app.models import (
    GameRules,
    PlayerDeletion,
    PlayerModeration,
    PlayerStanding,
    PlayerState,
    ScoreSubmission,
    ScoreUpdate,
    SeasonScore,
    decode_update,
    parse_rules,
    player_key,
    tournament_of,
)
from leaderboard_app.planning import (
    Kind,
    applied_state,
    classify,
    deleted_state,
    moderated_state,
    repeated_state,
    skipped_before,
    write_stamp,
)
from leaderboard_app.rebuild import player_writes
from leaderboard_app.rank_changes import events_by_worker
from leaderboard_app.seasons import closes_at_us
from leaderboard_app.settings import SCORE_UPDATES_TOPIC
from leaderboard_app.sinks.redis import PlayerWrite, Ranking
from leaderboard_app.tables import AcknowledgedTable, archived_key, progress_key, stored_progress
from leaderboard_app.topics import ReadRecord, read_range
from leaderboard_app.tournaments import parse_tournament

if TYPE_CHECKING:
    from leaderboard_app.app import LeaderboardApp

logger = logging.getLogger(__name__)

#: How long the agent must have seen no record before the watchdog looks for
#: records that were never delivered (seconds).
IDLE_BEFORE_CATCH_UP = 2.0
#: Records read from Kafka at a time when filing a partition's writes for Cassandra again.
REFILE_CHUNK = 10_000


def _decode(event: EventT | ReadRecord) -> ScoreUpdate:
    """The update a record of score_updates carries; InvalidInput if it is malformed."""
    update = decode_update(event.value)
    if event.key != player_key(update.game_id, update.user_id):
        # A record keyed otherwise sits on a partition that does not own
        # this player: applying it could race the owner of its state.
        raise InvalidInput("key", "does not match the record's gameId and userId")
    return update


def _answer(submission: ScoreSubmission, standing: PlayerStanding | None) -> dict[str, Any]:
    """What a request waiting for ``submission`` is told once it is applied."""
    answer: dict[str, Any] = {"status": "applied", "season": submission.season}
    if standing is not None:
        answer.update(rank=standing.player.rank, score=standing.player.score)
    return answer


def _moderation_answer(moderation: PlayerModeration) -> dict[str, Any]:
    """What a request waiting for a ban (or its lifting) is told once it is applied."""
    return {"status": "banned" if moderation.banned else "restored", "gameId": moderation.game_id,
            "userId": moderation.user_id}


@dataclass
class _Reply:
    """A waiting request (``wait=true``) to answer once the batch is in Redis."""

    key: bytes
    update: ScoreUpdate
    #: The answer a repeated eventId got the first time, if it was answered.
    known_answer: dict[str, Any] | None = None
    #: Answer only once this is done (an erasure: once Cassandra has made it too).
    after: asyncio.Future[None] | None = None


@dataclass
class _Batch:
    """What a batch of records changes, gathered before it is written.

    States and progress are written to the table once per key at the end, each
    in the context of the last event that touched it, so that Faust files it in
    that event's partition of the store and the changelog.
    """

    states: dict[bytes, tuple[PlayerState, EventT]] = field(default_factory=dict)
    #: partition -> (next offset to apply, the last event of that partition).
    progress: dict[int, tuple[int, EventT]] = field(default_factory=dict)
    redis_writes: list[PlayerWrite] = field(default_factory=list)
    replies: list[_Reply] = field(default_factory=list)
    #: Dead-letter sends, awaited with the changelog before the records are acked.
    sends: list[Any] = field(default_factory=list)

    def next_offsets(self) -> dict[int, int]:
        return {partition: offset for partition, (offset, _) in self.progress.items()}


class ScoreApplier:
    """Applies the records of ``score_updates`` to the table and the sinks, each exactly once.

    Records come in batches (leaderboard_app.batches). A batch is planned record
    by record against the table, then written: Redis in one pipelined round trip,
    the waiting requests answered, the table's new states and each partition's
    progress written and sent to the changelog, Cassandra handed its rows to
    write behind. The batch is acked once Kafka has acknowledged its changelog
    writes, while the next batch is applied.

    Exactly-once effect (see docs/exactly-once.md):

    * Each partition's progress (the next offset to apply) lives in the table,
      written after the states it covers. A record beyond it means records were
      skipped (delivered out of order, or their offsets committed without their
      effect): they are read from Kafka and applied before it.
    * A record below the progress, or at or below the offset its player's state
      remembers, is a replay whose effect the state already holds: only its sink
      writes (absolute values, idempotent) are repeated.
    * Client retries carry the same eventId and are recognised by the ids the
      player's state remembers for 24 h.
    * Cassandra is written behind, from memory. The table also keeps, per
      partition, the offset below which Cassandra has every write; a worker that
      takes a partition first files the writes of the records from there to the
      progress again (:meth:`refile_unarchived`), in case their filer died.
    * Applied records missing from Faust's acks would keep the partition's committed offset
      back; below the progress the changelog holds, they are marked acknowledged
      (:meth:`release_dropped_commits`).
    """

    def __init__(self, app: LeaderboardApp, table: AcknowledgedTable) -> None:
        self.app = app
        self.table = table
        self.redis = app.redis_leaderboard
        self.archive = app.archive
        self.metrics = app.metrics
        #: When the agent last received a record (monotonic seconds).
        self.last_record_at = time.monotonic()
        #: Gaps found in the delivered offsets (each one read and applied).
        self.gaps_found = 0
        #: Answers sent once something else is done (``_Reply.after``).
        self._replies_waiting: set[asyncio.Future[None]] = set()
        #: Partitions whose unarchived records were filed again since this worker took them.
        self.refiled: set[int] = set()
        #: Partition -> the archived offset the table holds, as last read or written here.
        self._archived: dict[int, int] = {}
        #: Partition -> its next offset to apply, as the changelog is known to hold it.
        self.durable_next: dict[int, int] = {}
        #: When records were taken in, until Cassandra has their writes (a stage histogram).
        self._archive_behind = WrittenBehind()
        self.archive.on_written = self._archive_written

    async def apply_taken(self, taken: Taken[EventT]) -> Applied[EventT]:
        """Apply a batch the intake handed over; it may be acked once its changelog is durable."""
        events = taken.items
        by_partition: dict[int, tuple[int, list[float]]] = {}
        for event, put_at in zip(events, taken.put_at):
            message = event.message
            last, times = by_partition.setdefault(message.partition, (message.offset, []))
            by_partition[message.partition] = (max(last, message.offset), times)
            times.append(put_at)
        for partition, (last, times) in by_partition.items():
            self._archive_behind.note(partition, last + 1, times)
        async with self.app.index_lock:
            with self.metrics.time_batch():
                next_offsets = await self.apply_batch(events)
            durable = await self.table.flush_changelog()
        now = time.monotonic()
        for put_at in taken.put_at:
            self.metrics.observe_stage("consumed_to_redis", now - put_at)
        return Applied(events, durable, on_durable=lambda: self.changelog_holds(next_offsets))

    def _archive_written(self, marks: dict[int, int]) -> None:
        now = time.monotonic()
        for partition, written_through in marks.items():
            for put_at in self._archive_behind.reached(partition, written_through):
                self.metrics.observe_stage("consumed_to_cassandra", now - put_at)

    # -- the batch -------------------------------------------------------------

    async def apply_batch(self, events: Sequence[EventT]) -> dict[int, int]:
        """Apply a batch of records; the caller then awaits the changelog and acks them.

        Returns each partition's next offset to apply after the batch, for
        :meth:`changelog_holds` once the changelog has it.
        """
        self.last_record_at = time.monotonic()
        for partition in {event.message.partition for event in events} - self.refiled:
            await self.refile_unarchived(partition)
        batch = _Batch()
        for event in events:
            in_context_of(event)
            await self._plan(event, batch)
        # Every write of these records is filed: once made, the archived offsets may pass them.
        for partition, next_offset in batch.next_offsets().items():
            self.archive.mark_filed(partition, next_offset)
        await self._flush(batch)
        self._write_table(batch)
        if batch.sends:
            await asyncio.gather(*batch.sends)
        return batch.next_offsets()

    def changelog_holds(self, next_offsets: dict[int, int]) -> None:
        """Note that the changelog holds each partition's progress up to ``next_offsets``."""
        for partition, next_offset in next_offsets.items():
            self.durable_next[partition] = max(next_offset, self.durable_next.get(partition, 0))

    def stored_next_offset(self, partition: int) -> int | None:
        """The next offset to apply in ``partition``, as the table holds it (None: never applied)."""
        return stored_progress(self.table, partition)

    async def _plan(self, event: EventT, batch: _Batch) -> None:
        message = event.message
        partition, offset = message.partition, message.offset
        known = batch.progress.get(partition)
        expected = known[0] if known else self.stored_next_offset(partition)
        if skipped_before(offset, expected):
            await self._read_skipped(event, expected, batch)  # type: ignore[arg-type]
            in_context_of(event)
            expected = batch.progress[partition][0]
        batch.progress[partition] = (max(offset + 1, expected or 0), event)
        try:
            update = _decode(event)
        except InvalidInput as exc:
            self._dead_letter(event, exc, batch)
            return
        try:
            kind = await self._apply(event, update, offset, expected, batch)
        except (BackendUnavailable, asyncio.CancelledError):
            raise  # a store that is away is waited for, never a reason to drop the record
        except Exception as exc:
            # Decoding holds records to what the HTTP edge guarantees, so this is a
            # defect; the record still must not stop every worker that takes the partition.
            logger.exception("score_updates[%d]@%d could not be applied", partition, offset)
            self._dead_letter(event, exc, batch)
            return
        self.metrics.count_events(kind.value)

    async def _apply(self, event: EventT, update: ScoreUpdate, offset: int,
                     expected: int | None, batch: _Batch) -> Kind:
        key = event.key
        state = self._state(key, batch)
        kind = classify(offset, expected, state, update)
        if kind is Kind.DELETION:
            await self._delete(key, state, update, event, batch)  # type: ignore[arg-type]
        elif kind in (Kind.BAN, Kind.UNBAN):
            await self._moderate(key, state, update, event, batch)  # type: ignore[arg-type]
        elif kind is Kind.REPLAY and isinstance(update, PlayerModeration):
            await self._replay_moderation(key, state, update, event, batch)
        elif kind is Kind.REPLAY:
            self._replay(key, state, update, event, batch)  # type: ignore[arg-type]
        elif kind is Kind.REPEAT:
            seen = state.seen_event(update.event_id, update.accepted_at_us)
            self._repeat(key, state, update, event, batch, seen[1] if seen else None)  # type: ignore[arg-type]
        else:
            self._score(key, state, update, event, batch)  # type: ignore[arg-type]
        return kind

    def _state(self, key: bytes, batch: _Batch) -> PlayerState:
        if key in batch.states:
            return batch.states[key][0]
        stored = self.table.get(key)
        return PlayerState.from_bytes(stored) if stored else PlayerState()

    async def _flush(self, batch: _Batch) -> None:
        """Write the batch's Redis changes in one round trip, then answer who waits for them and
        tell the workers streaming players whose rank it changed."""
        rank_changes = await self.redis.apply(batch.redis_writes, batch.next_offsets())
        batch.redis_writes.clear()
        if rank_changes:
            await self.redis.publish_rank_events(events_by_worker(rank_changes))
        await self._send_replies([reply for reply in batch.replies if reply.after is None], batch)
        for reply in batch.replies:
            if reply.after is not None:  # answered when done, without holding the agent up
                task = asyncio.ensure_future(self._send_reply_after(reply))
                self._replies_waiting.add(task)
                task.add_done_callback(self._replies_waiting.discard)
        batch.replies.clear()

    def _write_table(self, batch: _Batch) -> None:
        for key, (state, event) in batch.states.items():
            in_context_of(event)
            self.table[key] = state.to_bytes()
        # After the states: whoever sees this progress in the changelog sees them too.
        for partition, (next_offset, event) in batch.progress.items():
            in_context_of(event)
            self.table[progress_key(partition)] = str(next_offset).encode("ascii")
            archived = self.archive.written_through.get(partition, -1)
            if archived > self._archived.get(partition, -1):
                self.table[archived_key(partition)] = str(archived).encode("ascii")
                self._archived[partition] = archived
        in_context_of(None)

    # -- one record --------------------------------------------------------------

    def _dead_letter(self, event: EventT, error: Exception, batch: _Batch) -> None:
        message = event.message
        self.app.malformed_records += 1
        self.metrics.count_events("dead_lettered")
        reason = str(error) or type(error).__name__
        logger.warning("record score_updates[%d]@%d sent to %s: %s",
                       message.partition, message.offset, self.app.dead_letter_topic.get_topic_name(), reason)
        batch.sends.append(self.app.dead_letter_topic.send_soon(
            key=event.key, value=event.value, headers={"error": reason.encode("utf-8", "replace")}))

    def _score(self, key: bytes, state: PlayerState, submission: ScoreSubmission, event: EventT,
               batch: _Batch) -> None:
        applied = applied_state(state, submission, event.message.offset)
        # The sinks' rows first: what can fail for a record fails before the batch holds any of it.
        self._write_sinks(submission, applied.season_score, applied.profile, batch, applied.state.stamp_us,
                          ranked=not state.banned)
        if state.banned and submission.reply_to:
            # Kept but not ranked: no standing to read, so the answer is known now.
            season = applied.state.seasons.get(submission.season)
            answer: dict[str, Any] = {"status": "applied", "banned": True, "season": submission.season}
            if season is not None:
                answer["score"] = season.score
            updated = applied.state
            if submission.event_id:
                updated = updated.remember_event(submission.event_id, submission.accepted_at_us, answer)
            batch.states[key] = (updated, event)
            batch.replies.append(_Reply(key, submission, known_answer=answer))
            return
        batch.states[key] = (applied.state, event)
        if submission.reply_to:
            batch.replies.append(_Reply(key, submission))

    def _replay(self, key: bytes, state: PlayerState, submission: ScoreSubmission, event: EventT,
                batch: _Batch) -> None:
        # Rewriting the entry puts it in the changelog again before this offset is
        # committed, in case the crash came between the local store and the changelog.
        season_state = state.seasons.get(submission.season)
        if season_state is not None:  # none: the player was erased after this record, which stays undone
            self._write_sinks(submission, season_state, state.profile(), batch, ranked=not state.banned)
        batch.states[key] = (state, event)
        if submission.reply_to:
            batch.replies.append(_Reply(key, submission))

    def _repeat(self, key: bytes, state: PlayerState, submission: ScoreSubmission, event: EventT,
                batch: _Batch, first_answer: dict[str, Any] | None) -> None:
        batch.states[key] = (repeated_state(state, event.message.offset), event)
        if submission.reply_to:
            batch.replies.append(_Reply(key, submission, known_answer=first_answer))

    async def _delete(self, key: bytes, state: PlayerState, deletion: PlayerDeletion, event: EventT,
                      batch: _Batch) -> None:
        # Earlier records of the batch reach Redis first, so the erasure comes after them.
        await self._flush(batch)
        # The entry stays, empty, so that it still knows its offset and eventIds;
        # the rest is idempotent, so a replayed deletion simply runs again.
        erased = deleted_state(state, event.message.offset, deletion.accepted_at_us)
        batch.states[key] = (erased, event)
        seasons = await self.redis.remove_player(deletion.game_id, deletion.user_id)
        # Tombstones at the erasure's own stamp: after every write of the player before it.
        self.archive.record_deletion(deletion.game_id, deletion.user_id, seasons, erased.stamp_us)
        if deletion.reply_to:
            # "deleted" means gone from the history (Cassandra) too; while Cassandra is away
            # the request gives up waiting and answers "queued".
            batch.replies.append(_Reply(key, deletion, known_answer={"status": "deleted", "gameId": deletion.game_id},
                                        after=self.archive.written()))

    async def _moderate(self, key: bytes, state: PlayerState, moderation: PlayerModeration, event: EventT,
                        batch: _Batch) -> None:
        moderated = moderated_state(state, moderation, event.message.offset)
        batch.states[key] = (moderated, event)
        await self._moderation_to_index(key, moderated, moderation, batch)
        # Kept in the history at its own stamp, so an erasure after it still covers it.
        self.archive.record_moderation(moderation.game_id, moderation.user_id, moderation.banned, moderation.reason,
                                       moderation.accepted_at_us, moderated.stamp_us)
        if moderation.reply_to:
            batch.replies.append(_Reply(key, moderation, known_answer=_moderation_answer(moderation)))

    async def _replay_moderation(self, key: bytes, state: PlayerState, moderation: PlayerModeration,
                                 event: EventT, batch: _Batch) -> None:
        # The index is made to match the state, whatever this record did: a later
        # ban or lifting may be in the state already.
        await self._moderation_to_index(key, state, moderation, batch)
        # Its history row again, at its accepted time: before any erasure that followed it.
        self.archive.record_moderation(moderation.game_id, moderation.user_id, moderation.banned,
                                       moderation.reason, moderation.accepted_at_us, moderation.accepted_at_us)
        batch.states[key] = (state, event)
        if moderation.reply_to:
            batch.replies.append(_Reply(key, moderation, known_answer=_moderation_answer(moderation)))

    async def _moderation_to_index(self, key: bytes, state: PlayerState, moderation: PlayerModeration,
                                   batch: _Batch) -> None:
        """Make the index rank the player as ``state`` says: nowhere while banned, else in their seasons.

        Both ask the archiver to recompute the game's archived standings.
        """
        # Earlier records of the batch reach Redis first, so the ban (or lifting) comes after them.
        await self._flush(batch)
        game_id, user_id = moderation.game_id, moderation.user_id
        if state.banned:
            await self.redis.ban_player(game_id, user_id)
            return
        rules = await self.app.rules_for(game_id)
        writes = player_writes(self.app, key, state, {game_id: rules})
        # A season archived and gone from Redis stays there: its standings are recomputed in Cassandra.
        now_us = self.app.clock.now_us()
        kept = await self.redis.seasons_in_index(game_id, [w.season for w in writes if w.season is not None])
        await self.redis.restore_player(game_id, user_id, [
            write for write in writes
            if write.closes_at_us is None or write.closes_at_us > now_us or write.season in kept])

    def _write_sinks(self, submission: ScoreSubmission, season_state: SeasonScore | None,
                     profile: dict[str, Any] | None, batch: _Batch, written_at_us: int | None = None,
                     ranked: bool = True) -> None:
        """File the record's writes; ``written_at_us`` is its history row's write timestamp (default: accepted).

        A player who is not ``ranked`` (banned) has every write made but their place on the boards.
        """
        write = PlayerWrite(
            game_id=submission.game_id, user_id=submission.user_id, activity_us=submission.accepted_at_us,
            season=submission.season, state=season_state, order=submission.rules.order, profile=profile,
            closes_at_us=closes_at_us(submission.rules.reset, submission.season, self.app.settings.season_grace_us),
            ranked=ranked, columns=submission.rules.columns,
        )
        self.archive.record_submission(submission.game_id, submission.user_id, submission.score, submission.season,
                                       submission.achieved_at_us, submission.accepted_at_us, written_at_us)
        if season_state is not None:
            self.archive.record_score(submission.game_id, submission.season, submission.user_id, season_state)
        batch.redis_writes.append(write)

    async def _send_replies(self, replies: Sequence[_Reply], batch: _Batch) -> None:
        """Answer the requests waiting for the batch's records: their standings read and sent in a round trip each."""
        unanswered = [reply.update for reply in replies if reply.known_answer is None]
        standings = iter(await self.redis.standings_of([
            (update.game_id, update.season, Ranking(update.rules.order,  # type: ignore[union-attr]
                                                    update.rules.columns),  # type: ignore[union-attr]
             update.user_id)
            for update in unanswered]))
        sent = []
        for reply in replies:
            update = reply.update
            answer = reply.known_answer
            if answer is None:
                answer = _answer(update, next(standings))  # type: ignore[arg-type]
                if isinstance(update, ScoreSubmission) and update.event_id and reply.key in batch.states:
                    # A retry with wait=true gets the answer the first one got.
                    state, event = batch.states[reply.key]
                    batch.states[reply.key] = (
                        state.remember_event(update.event_id, update.accepted_at_us, answer), event)
            sent.append((update.reply_to or "", answer))
        await self.redis.send_replies(sent)

    async def _send_reply_after(self, reply: _Reply) -> None:
        assert reply.after is not None and reply.known_answer is not None
        await reply.after
        await self.redis.send_replies([(reply.update.reply_to or "", reply.known_answer)])

    # -- writes for Cassandra a dead worker may not have made ------------------------

    def partitions_revoked(self, partitions: set[int]) -> None:
        """Forget what was known of ``partitions``: whoever takes them next checks them again."""
        self.refiled -= partitions
        for partition in partitions:
            self._archive_behind.forget(partition)
            self._archived.pop(partition, None)
            self.durable_next.pop(partition, None)

    async def refile_unarchived(self, partition: int) -> int:
        """File the Cassandra writes of ``partition``'s records from its archived offset to its progress again.

        Run once per partition a worker takes, before it applies any record of
        it, so the archived offset it later writes covers these records too. The
        writes are idempotent upserts stamped with their records' times (scores
        with the player's current state), so what already reached Cassandra is
        rewritten unchanged. Returns how many records were filed again.
        """
        in_context_of(None)  # the table finds the keys of any partition
        end = self.stored_next_offset(partition)
        raw = self.table.get(archived_key(partition))
        start = int(raw) if raw else await self._earliest(partition)
        self._archived[partition] = start
        refiled = 0
        #: Player key -> the write stamp of their last record filed again: each next one follows it.
        stamps: dict[bytes, int] = {}
        if end is not None and start < end:
            for first in range(start, end, REFILE_CHUNK):
                records = await read_range(self.app.settings.kafka, SCORE_UPDATES_TOPIC, partition, first,
                                           min(end, first + REFILE_CHUNK))
                for record in records:
                    refiled += await self._refile(record, stamps)
            self.archive.mark_filed(partition, end)
            logger.info("score_updates[%d]: filed the writes of records %d..%d for cassandra again",
                        partition, start, end - 1)
        self.refiled.add(partition)
        return refiled

    def _settled(self) -> bool:
        """Whether the worker owns its partitions with their tables restored (no rebalance under way)."""
        app = self.app
        return not (app.rebalancing or app.in_recovery) and app.tables.recovery.completed.is_set()

    async def _earliest(self, partition: int) -> int:
        tp = TP(SCORE_UPDATES_TOPIC, partition)
        return (await self.app.consumer.earliest_offsets(tp)).get(tp, 0)

    async def _refile(self, record: ReadRecord, stamps: dict[bytes, int]) -> int:
        try:
            update = _decode(record)
        except InvalidInput:
            return 0  # dead-lettered when it was applied
        # Stamped in record order, as when they were applied (planning.write_stamp): a
        # deletion's tombstones still cover the writes before it, whatever the clocks.
        key = record.key or b""
        stamp = stamps[key] = write_stamp(stamps.get(key, 0), update.accepted_at_us)
        if isinstance(update, PlayerDeletion):
            seasons = await self.redis.seasons_of(update.game_id)
            self.archive.record_deletion(update.game_id, update.user_id, seasons, stamp)
            return 1
        if isinstance(update, PlayerModeration):
            self.archive.record_moderation(update.game_id, update.user_id, update.banned, update.reason,
                                           update.accepted_at_us, stamp)
            return 1
        self.archive.record_submission(update.game_id, update.user_id, update.score, update.season,
                                       update.achieved_at_us, update.accepted_at_us, stamp)
        stored = self.table.get(record.key)
        season_state = PlayerState.from_bytes(stored).seasons.get(update.season) if stored else None
        if season_state is not None:
            self.archive.record_score(update.game_id, update.season, update.user_id, season_state)
        return 1

    async def refile_owned(self) -> None:
        """Check the owned partitions no record has come for yet (the agent checks the others itself)."""
        app = self.app
        if not self._settled():
            return
        for partition in set(app.assigned_partitions()) - self.refiled:
            async with app.index_lock:
                if partition not in self.refiled:
                    await self.refile_unarchived(partition)

    # -- records Faust holds as unacked -----------------------------------------

    def release_dropped_commits(self) -> None:
        """Let Faust commit past applied records it holds as unacked (see leaderboard_app.faust_compat)."""
        if not self._settled():
            return
        consumer = self.app.consumer
        owned = consumer.assignment()
        for partition, durable_next in self.durable_next.items():
            tp = TP(SCORE_UPDATES_TOPIC, partition)
            if tp not in owned:
                continue
            released = release_dropped(consumer, tp, durable_next)
            if released:
                logger.warning("score_updates[%d]: records %d..%d held the committed offset back, unacked"
                               " though applied and in the changelog; marked acknowledged",
                               partition, released.start, released.stop - 1)

    # -- skipped records ---------------------------------------------------------

    async def _read_skipped(self, event: EventT, expected: int, batch: _Batch) -> None:
        """Apply the records between the partition's progress and ``event``, read straight from Kafka.

        Faust delivered a record beyond the progress: the ones before it were
        skipped (delivered out of order, or their offsets committed without their
        effect). They are read over a consumer of their own rather than by seeking
        Faust's, which discards records re-fetched below the last offset it read.
        """
        message = event.message
        partition, offset = message.partition, message.offset
        self.gaps_found += 1
        earliest = await self._earliest(partition)
        if earliest > expected:
            logger.error("score_updates[%d]: records %d..%d were deleted before they were applied",
                         partition, expected, earliest - 1)
            expected = earliest
        batch.progress[partition] = (expected, event)
        if expected >= offset:
            return
        logger.warning("score_updates[%d]: record %d came while %d was the next to apply; reading the %d between",
                       partition, offset, expected, offset - expected)
        skipped = await read_range(self.app.settings.kafka, SCORE_UPDATES_TOPIC, partition, expected, offset)
        for record in skipped:
            in_context_of(record)  # type: ignore[arg-type]
            await self._plan(record, batch)  # type: ignore[arg-type]

    async def catch_up(self) -> None:
        """Seek back on owned partitions whose last records the agent never got.

        A skipped record is noticed when a later one arrives; this covers the
        last records of a partition, after which nothing arrives.
        """
        app = self.app
        if not self._settled() or time.monotonic() - self.last_record_at < IDLE_BEFORE_CATCH_UP:
            return
        owned = [tp for tp in app.consumer.assignment() if tp.topic == SCORE_UPDATES_TOPIC]
        if not owned:
            return
        ends = await app.consumer.highwaters(*owned)
        behind = {}
        for tp in owned:
            expected = self.stored_next_offset(tp.partition)
            if expected is not None and ends.get(tp, 0) > expected:
                behind[tp] = expected
        if behind:
            logger.warning("score_updates partitions %s are idle behind their end: reading them again from %s",
                           sorted(tp.partition for tp in behind), sorted(behind.values()))
            await app.consumer.seek_wait(behind)


def register_agents(app: LeaderboardApp) -> None:
    """Attach the agents to ``app``."""
    applier = ScoreApplier(app, app.player_scores)
    settings = app.settings

    async def apply_batches(intake: Intake[EventT], ack: Any) -> None:
        try:
            await run_batches(intake, settings.batch_size, applier.apply_taken, ack)
        except Exception as exc:
            # Faust would go on and commit what was acked after it; what was not is
            # applied again by whoever takes the partition: stop the worker rather
            # than go on past a batch whose state may not be in the changelog.
            logger.critical("could not apply records from score_updates (%r): stopping the worker", exc)
            await app.crash(exc)
            raise

    @app.agent(app.score_updates_topic, name="apply_score_updates")
    async def apply_score_updates(stream: faust.StreamT) -> None:
        # Acked by the batches' ack stage, once their changelog writes are durable.
        records = stream.noack()
        intake: Intake[EventT] = Intake(max_pending=2 * settings.batch_size)
        batches = asyncio.ensure_future(apply_batches(intake, records.ack))
        try:
            async for event in records.events():
                app.metrics.observe_stage("accepted_to_consumed", max(0.0, time.time() - event.message.timestamp))
                await intake.put(event)
        finally:
            batches.cancel()

    @app.timer(IDLE_BEFORE_CATCH_UP, name="catch_up_undelivered_records")
    async def catch_up_undelivered_records() -> None:
        try:
            await applier.refile_owned()
            await applier.catch_up()
            applier.release_dropped_commits()
        except Exception as exc:  # the consumer is between assignments; the next round tries again
            logger.info("catch-up check skipped: %r", exc)

    @app.on_partitions_revoked.connect
    async def forget_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        app.freshness.reset()
        applier.partitions_revoked({tp.partition for tp in revoked if tp.topic == SCORE_UPDATES_TOPIC})

    @app.agent(app.game_rule_updates_topic, name="apply_game_rules")
    async def apply_game_rules(stream: faust.StreamT) -> None:
        async for key, raw in stream.items():
            game_id = key.decode("utf-8")
            try:
                data = orjson.loads(raw)
                # A tournament's definition travels keyed by its board id, and is stored like rules.
                is_tournament = tournament_of(game_id) is not None
                rules = (parse_tournament(data["tournament"]) if is_tournament else parse_rules(data["rules"]))
                at_us = int(data["atUs"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidInput) as exc:
                app.malformed_records += 1
                logger.warning("skipping malformed record on game_rule_updates: %s", exc)
                continue
            app.game_rules[key] = rules.to_bytes()
            await app.redis_leaderboard.set_rules(game_id, rules.to_bytes(), at_us)
            if isinstance(rules, GameRules):  # Cassandra's games table keeps games' rules only
                app.archive.record_rules(game_id, rules, at_us)
