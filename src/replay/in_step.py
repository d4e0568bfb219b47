"""Views rebuilt together in one pass: each event handed, with one lookup of its type, to only the
parts of views that read that type (``tracking.envelopes.Part``), through the very functions the
views' consumers run.

Views that read the same event types are in step: they hold the same stream versions, so one
check serves them all, and the versions are kept in a dict (stream -> last version, events
applied) written into the first view's rows once per generation of the caches, not once per
event. A part twinned with one applied already (the suspension windows, kept by the blocklist
and by the claims view) is not applied again: its rows are copied from its twin's tables when
the rebuild ends, as the versions of the views in step are.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, select

from contract.envelope import FEED_EVENTS, Envelope
from domain.event import FIRST_VERSION
from tracking.envelopes import (
    ERASURES,
    ApplyFailed,
    Handler,
    Prefetch,
    ReadModel,
    copy_versions,
    load_versions,
    versions_table,
)
from tracking.rows import Rows
from tracking.store import Tx

# A stream no event of which was applied yet: every version comes after it.
_NONE = (-(2**63), 0)


@dataclass
class Step:
    """Views that read the same event types, and the stream versions they hold."""

    models: tuple[ReadModel, ...]
    rows: tuple[Rows, ...]
    # stream id -> (last version applied, events applied): this generation's, not yet in rows.
    versions: dict[str, tuple[int, int]] = field(default_factory=dict)

    def stored(self, stream: str) -> tuple[int, int]:
        """The stream's version as the first view's rows hold it (an earlier generation's)."""
        row = self.rows[0].peek(versions_table, (self.models[0].name, stream))
        return _NONE if row is None else (row["version"], row["events"])

    def write_versions(self) -> None:
        """This generation's versions into the first view's rows (before they are written)."""
        rows, name = self.rows[0], self.models[0].name
        for stream, (version, events) in self.versions.items():
            rows.put_known(
                versions_table,
                (name, stream),
                {"view": name, "stream_id": stream, "version": version, "events": events},
            )
        self.versions.clear()


# What a step does with an event of one type: the handlers of its views' parts that read it,
# each with its view's rows and name (for the error).
Entry = tuple[Handler, Rows, str]
Route = tuple[tuple[Step, tuple[Entry, ...]], ...]


class InStep:
    """Applies envelopes of ``wanted`` types to ``models`` (each with its rows in ``rows``)."""

    def __init__(
        self, models: Sequence[ReadModel], rows: Sequence[Rows], wanted: Sequence[str]
    ) -> None:
        groups: dict[frozenset[str], list[int]] = {}
        for index, model in enumerate(models):
            groups.setdefault(frozenset(model_types(model)), []).append(index)
        self.steps = [
            (types, Step(tuple(models[i] for i in places), tuple(rows[i] for i in places)))
            for types, places in groups.items()
        ]
        # Twins: the first part of each key is applied, the others' tables copied from its.
        # (A twin is applied where its view reads every type the part does: then it sees the
        # same events wherever it is applied.)
        applied: dict[Hashable, tuple[Table, ...]] = {}
        self.copies: list[tuple[Table, Table]] = []
        entries: dict[int, dict[str, list[Entry]]] = {}
        # Per view, its prefetch in the pass: its own, or where a part of it is copied from its
        # twin, the prefetches of the parts it applies (a copied part loads nothing).
        self._prefetches: dict[str, list[Prefetch]] = {}
        for index, model in enumerate(models):
            reads = set(model_types(model))
            prefetches, copied = [], False
            for part in model.parts:
                twin = part.twin if reads.issuperset(part.handlers) else None
                if twin is not None and twin in applied:
                    self.copies.extend(_twin_tables(applied[twin], part.tables))
                    copied = True
                    continue
                if twin is not None:
                    applied[twin] = part.tables
                if part.prefetch is not None:
                    prefetches.append(part.prefetch)
                for event_type, handler in part.handlers.items():
                    entry = (handler, rows[index], model.name)
                    entries.setdefault(index, {}).setdefault(event_type, []).append(entry)
            self._prefetches[model.name] = prefetches if copied else [model.prefetch]
        self._routes: dict[str, Route] = {}
        for event_type in wanted:
            route = []
            for types, step in self.steps:
                if event_type not in types:
                    continue
                places = [models.index(m) for m in step.models]
                handled = [e for i in places for e in entries.get(i, {}).get(event_type, [])]
                route.append((step, tuple(handled)))
            self._routes[event_type] = tuple(route)

    def held(self) -> int:
        """Stream versions held outside the rows (the rows' bound counts them too)."""
        return sum(len(step.versions) for _, step in self.steps)

    def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """A cache past its first generation asks the scratch store for what it lacks: load
        each step's versions and the rows of the parts it applies for the batch, but for the
        streams that begin in the batch (``tracking.rows.Rows.new_streams``)."""
        # A stream whose first event is here has no row yet: none is asked for (this batch
        # only: ``apply`` forgets them).
        self._new_streams(
            {e["stream_id"] for e in envelopes if e["stream_version"] == FIRST_VERSION}
        )
        for types, step in self.steps:
            if all(view_rows.complete for view_rows in step.rows):
                continue
            mine = [e for e in envelopes if e["event_type"] in types]
            load_versions(step.models[0], mine, step.rows[0])
            for model, view_rows in zip(step.models, step.rows, strict=True):
                if not view_rows.complete:
                    for prefetch in self._prefetches[model.name]:
                        prefetch(mine, view_rows)

    def _new_streams(self, streams: set[str]) -> None:
        for _, step in self.steps:
            for view_rows in step.rows:
                view_rows.new_streams(streams)

    def apply(self, envelopes: Sequence[Envelope]) -> None:
        """Each envelope to every view of its type, in store order; a stream version a step
        holds already is dropped by that step (a rebuild's store holds none twice).

        The caches undo nothing: a failure ends the rebuild, its scratch store thrown away."""
        try:
            self._apply(envelopes)
        finally:
            self._new_streams(set())  # new in this batch only

    def _apply(self, envelopes: Sequence[Envelope]) -> None:
        routes = self._routes
        for envelope in envelopes:
            event_type = envelope["event_type"]
            stream = envelope["stream_id"]
            version = envelope["stream_version"]
            for step, entries in routes[event_type]:
                versions = step.versions
                seen = versions.get(stream)
                if seen is None:
                    seen = step.stored(stream)
                if version <= seen[0]:
                    continue
                if event_type in ERASURES:
                    step.rows[0].tx.scrub_after_commit()
                try:
                    # ``name``: the view whose handler failed, for the error below.
                    for handler, rows, name in entries:  # noqa: B007
                        handler(envelope, rows)
                except Exception as exc:
                    raise ApplyFailed(name, envelope, exc) from exc
                versions[stream] = (version, seen[1] + 1)

    def write_versions(self) -> None:
        """Every step's versions into its rows: before the rows are written."""
        for _, step in self.steps:
            step.write_versions()

    def finish(self, tx: Tx) -> None:
        """At the end, the rows the views keep without applying: the stream versions of the
        views in step after the first, and the tables of twinned parts."""
        for _, step in self.steps:
            for model in step.models[1:]:
                copy_versions(tx, step.models[0], model)
        for source, target in self.copies:
            tx.execute(target.delete())
            names = [c.name for c in target.columns]
            tx.execute(target.insert().from_select(names, select(*(source.c[n] for n in names))))


def model_types(model: ReadModel) -> tuple[str, ...]:
    """The names of the event types a view reads (its feeds')."""
    return tuple(t.__name__ for feed in model.feeds for t in FEED_EVENTS[feed])


def _twin_tables(source: tuple[Table, ...], target: tuple[Table, ...]) -> list[tuple[Table, Table]]:
    """The twins' tables, pair by pair: of the same columns, or the copy would be wrong."""
    pairs = list(zip(source, target, strict=True))
    for a, b in pairs:
        if [c.name for c in a.columns] != [c.name for c in b.columns]:
            raise ValueError(f"twinned tables {a.name} and {b.name} differ in their columns")
    return pairs
