"""Faults of a consumer group's member that raise no error of their own, watched for after every
poll by ``consumers.kafka_source``:

- the broker gone (killed, paused, cut off): kafka-python's poll just returns nothing. The
  consumer's group coordinator then becomes unknown; unknown for ``unreachable_after`` seconds,
  the watch raises ``BrokerUnreachable`` dated from when it was last known, and the runner
  reports the outage and waits it out with a fresh consumer;
- no partition held although the topic has some (a member that joined before it knew them,
  seen to keep none for 30 minutes while its view stayed empty): after
  ``no_partitions_after`` seconds the condition is reported (the board shows it, status exits
  non-zero) and the member rejoins its group with a fresh consumer, with back-off, until it is
  given partitions;
- partitions held, messages waiting on them, and none delivered (seen in 2 of 20 fresh starts on
  a loaded machine: a consumer 30 messages behind for a minute, never fetching): after
  ``stalled_after`` seconds without a record its positions are compared with the partitions'
  ends, and a consumer that is behind is replaced by a fresh one.

A spare member (the group has more members than the topic has partitions) holds none and
rightly so: it stands by instead of rejoining, which would only make the whole group rebalance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kafka.errors import KafkaError

from tracking.board import NO_PARTITIONS, STANDBY
from tracking.runner import DependencyDown

log = logging.getLogger(__name__)


class BrokerUnreachable(DependencyDown, KafkaError):  # type: ignore[misc]  # kafka-python is untyped
    """The consumer has lost its group's coordinator and cannot find it again."""


def group_coordinator_known(consumer: Any) -> bool:
    """Whether the consumer knows its group's coordinator and is connected to it. kafka-python
    exposes this only on its coordinator object; a consumer without one (no group) is taken as
    connected."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None:
        return True
    return not bool(coordinator.coordinator_unknown())


class ConsumerWatch:
    """One member's timers: when its coordinator was last known, since when it holds no
    partition, when a record last came."""

    def __init__(
        self,
        name: str,
        topic: str,
        *,
        unreachable_after: float = 5.0,
        no_partitions_after: float = 15.0,
        max_rejoin_backoff: float = 300.0,
        stalled_after: float = 10.0,
        group_members: Callable[[], int] | None = None,
    ) -> None:
        self.name = name
        self.topic = topic
        # How long the coordinator may be unknown before the broker counts as gone (a
        # coordinator moving or a connection re-opened takes less).
        self.unreachable_after = unreachable_after
        # How long a member may hold no partition before it counts as stuck (a join takes a
        # second or two; a rebalance after a member vanished, its session timeout).
        self.no_partitions_after = no_partitions_after
        self.max_rejoin_backoff = max_rejoin_backoff
        # How long a consumer may deliver nothing before its positions are compared with the
        # partitions' ends (one request per idle stretch: cheap).
        self.stalled_after = stalled_after
        # How many members the group has now (None: not known; a member without partitions is
        # then never taken for a spare).
        self._group_members = group_members
        self._partition_count = 0
        self._coordinator_seen = time.monotonic()  # when the coordinator was last known
        self._delivered = time.monotonic()  # when a record last came, or the check last ran
        self._unassigned_since: float | None = None  # holding no partition since then
        self._rejoin_at: float | None = None  # the next rejoin, while holding none
        self._rejoins = 0
        self._spare = False

    def joined(self, partition_count: int) -> None:
        """A fresh consumer has subscribed to a topic of ``partition_count`` partitions."""
        self._partition_count = partition_count
        self._coordinator_seen = self._delivered = time.monotonic()

    def reset(self) -> None:
        """The consumer was closed for an outage: its timers start again with the next."""
        self._unassigned_since, self._rejoin_at, self._rejoins = None, None, 0
        self._spare = False

    def replace(
        self, consumer: Any, delivered: bool, held: set[int], behind: Callable[[list[int]], int]
    ) -> bool:
        """After a poll: raises ``BrokerUnreachable`` when the broker is gone; True when the
        consumer must be replaced by a fresh one (to rejoin its group, or because it stalled).
        ``held``: the partitions it reads now; ``behind``: messages waiting on some of them."""
        if delivered:
            self._delivered = time.monotonic()
        else:
            self._check_connected(consumer)
        if self._rejoin_due(bool(consumer.assignment())):
            return True
        return not delivered and self._stalled(consumer, held, behind)

    def _check_connected(self, consumer: Any) -> None:
        now = time.monotonic()
        if group_coordinator_known(consumer):
            self._coordinator_seen = now
            return
        if now - self._coordinator_seen >= self.unreachable_after:
            raise BrokerUnreachable(
                f"no broker has answered the consumer for {now - self._coordinator_seen:.0f} s "
                "(its group coordinator is gone)",
                since=self._coordinator_seen,
            )

    def _rejoin_due(self, holds_partitions: bool) -> bool:
        now = time.monotonic()
        if holds_partitions:
            self._spare = False
            if self._unassigned_since is not None and self._rejoins:
                log.info(
                    "%s: holds partitions of %s again after %.1f s (%d rejoins)",
                    self.name,
                    self.topic,
                    now - self._unassigned_since,
                    self._rejoins,
                )
            self._unassigned_since, self._rejoin_at, self._rejoins = None, None, 0
            return False
        if self._unassigned_since is None:
            self._unassigned_since = now
            self._rejoin_at = now + self.no_partitions_after
        assert self._rejoin_at is not None
        if now < self._rejoin_at:
            return False
        if self._is_spare():
            # Every partition is given out: rejoining would only make everyone rebalance.
            # Looked at again later.
            self._spare = True
            self._rejoin_at = now + self.no_partitions_after
            return False
        self._spare = False
        if not self._rejoins:
            log.warning(
                "%s: holds no partition of %s (%d partitions) after %.0f s; rejoining its group",
                self.name,
                self.topic,
                self._partition_count,
                now - self._unassigned_since,
            )
        self._rejoins += 1
        backoff = min(self.no_partitions_after * 2**self._rejoins, self.max_rejoin_backoff)
        self._rejoin_at = now + backoff
        return True

    def _stalled(self, consumer: Any, held: set[int], behind: Callable[[list[int]], int]) -> bool:
        now = time.monotonic()
        if now - self._delivered < self.stalled_after or not held:
            return False
        if not group_coordinator_known(consumer):
            return False  # the broker may be gone: _check_connected tells
        self._delivered = now
        try:
            waiting = behind(sorted(held))
        except KafkaError as exc:
            # The broker went away meanwhile: an outage from when it was last known.
            raise BrokerUnreachable(
                f"no answer to a request for end offsets ({exc})", self._coordinator_seen
            ) from exc
        if waiting:
            log.warning(
                "%s: %d messages waiting on %s but none delivered for %.0f s; replacing the "
                "consumer",
                self.name,
                waiting,
                self.topic,
                self.stalled_after,
            )
        return bool(waiting)

    def _is_spare(self) -> bool:
        if self._group_members is None:
            return False
        try:
            members = self._group_members()
        except Exception as exc:  # unknown: rejoining is the safe side
            log.debug("%s: cannot count its group's members: %s", self.name, exc)
            return False
        return members > self._partition_count

    def condition(self) -> tuple[str, str] | None:
        """Holding no partition past the grace: the view reads nothing (tracking.runner). A
        spare member stands by instead."""
        if self._unassigned_since is None:
            return None
        if self._spare:
            return (
                STANDBY,
                f"a spare member: the {self._partition_count} partitions of {self.topic} are "
                "held by other members",
            )
        if not self._rejoins:
            return None
        held = time.monotonic() - self._unassigned_since
        return (
            NO_PARTITIONS,
            f"none of the {self._partition_count} partitions of {self.topic} for {held:.0f} s; "
            f"rejoined its group {self._rejoins} times",
        )
