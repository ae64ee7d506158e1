"""Recording overlaps as they open, change, resolve and flip between a clean merge and a
conflict: the table of open overlaps, one event (and one notification) per finding.

Owned by the daemon's pipeline thread; nothing here is thread-safe."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from gitwarden.agents.model import Agent
from gitwarden.overlaps import table as overlap_table
from gitwarden.overlaps.predict import CONFLICT, MergePredictor, Prediction, Side
from gitwarden.overlaps.tracker import ChangeTracker, Overlap, OverlapDelta
from gitwarden.overlaps.wording import overlap_key, overlap_message, reclassified_message
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, notice

log = logging.getLogger("gitwarden.pipeline")

Emit = Callable[..., None]

MAX_TOLD_PER_PATH = 32  # agent sets of one open overlap already told it conflicts


class OverlapRecorder:
    """Turns overlap deltas into table rows and events, predicting each merge in memory."""

    def __init__(self, store: Store, predictor: MergePredictor,
                 agents: Callable[[], Mapping[str, Agent]],
                 overlaps: Callable[[], Mapping[str, Overlap]], emit: Emit) -> None:
        self._store = store
        self.predictor = predictor
        self._agents = agents
        self._overlaps = overlaps
        self._emit = emit
        self.classification: dict[str, Prediction] = {}
        # path -> overlap keys (path and agents) already notified as conflicts, oldest first;
        # all of a path's keys go when its overlap resolves, whichever agents it had on the way
        self._told_conflict: dict[str, dict[str, None]] = {}

    def memory_sizes(self) -> dict[str, int]:
        """Entries held: one per open overlap, plus the predictor's bounded merge cache."""
        return {"classification": len(self.classification),
                "told_conflict": sum(len(keys) for keys in self._told_conflict.values()),
                "merge_cache": self.predictor.cache_size}

    def restore_into(self, tracker: ChangeTracker) -> None:
        """Give the tracker the overlaps still open in the table (from before a restart)."""
        for record in overlap_table.open_overlaps(self._store):
            tracker.restore_overlap(Overlap(record.path, record.agents, record.first_agent,
                                            record.opened_ts))

    def follow_replaced_store(self) -> None:
        """One stat per batch: a removed or replaced state.db is reopened (or recreated) and
        the overlaps open right now are written to it again."""
        reopened = self._store.reopen_if_replaced()
        if reopened is not None:
            self.rewrite_open()
            self._emit(EventKind.STORE_REOPENED, reopened, severity="warning")

    def rewrite_open(self) -> None:
        """Write the overlaps open right now into a state database that lost them (removed or
        replaced under the daemon); no events, no notifications: nothing new happened."""
        present = {record.path for record in overlap_table.open_overlaps(self._store)}
        for path, overlap in self._overlaps().items():
            if path in present:
                continue
            prediction = self.classification.get(path)
            overlap_table.open_overlap(
                self._store, path, overlap.agents, overlap.first_agent, overlap.opened_at,
                prediction.classification if prediction else None,
                prediction.as_json() if prediction else None)

    def predict(self, overlap: Overlap) -> Prediction:
        sides = []
        for name in overlap.agents:
            agent = self._agents().get(name)
            if agent is not None:
                sides.append(Side(name, agent.path, agent.head))
        try:
            return self.predictor.predict(overlap.path, sides)
        except Exception as exc:
            log.warning("cannot predict the merge of %s: %s", overlap.path, exc)
            return Prediction(CONFLICT, reason=f"prediction failed: {exc}")

    def record(self, delta: OverlapDelta, now: float) -> None:
        store = self._store
        for overlap in delta.resolved:
            self.classification.pop(overlap.path, None)
            self._told_conflict.pop(overlap.path, None)
            overlap_table.resolve_overlap(store, overlap.path, now)
            self._emit(EventKind.OVERLAP_RESOLVED,
                        f"{overlap.path} is no longer changed by several agents "
                        f"(was {', '.join(overlap.agents)})",
                        path=overlap.path, data={"agents": list(overlap.agents)})
        for overlap in delta.opened:
            prediction = self.predict(overlap)
            self.classification[overlap.path] = prediction
            overlap_table.open_overlap(store, overlap.path, overlap.agents, overlap.first_agent,
                                       now, prediction.classification, prediction.as_json())
            title, body = overlap_message(overlap, prediction)
            if prediction.classification == CONFLICT:
                self._tell_conflict(overlap.path, overlap_key(overlap))
            log.debug("overlap: %s (%s)", title, prediction.classification)
            self._emit(EventKind.OVERLAP_OPENED, f"{title}: {body}", path=overlap.path,
                        agent=overlap.first_agent, severity="warning",
                        data=notice({"agents": list(overlap.agents),
                                     "first": overlap.first_agent,
                                     "classification": prediction.classification,
                                     "hunks": [h.as_json() for h in prediction.hunks]},
                                    title, body, dedup=f"overlap:{overlap_key(overlap)}"))
        for overlap in delta.changed:
            prediction = self.predict(overlap)
            self.classification[overlap.path] = prediction
            overlap_table.update_overlap(store, overlap.path, ts=now, agents=overlap.agents,
                                         classification=prediction.classification,
                                         detail=prediction.as_json())
            self._emit(EventKind.OVERLAP_CHANGED,
                        f"{overlap.path} is now changed by {', '.join(overlap.agents)} "
                        f"({prediction.classification})", path=overlap.path,
                        data={"agents": list(overlap.agents),
                              "classification": prediction.classification})

    def _tell_conflict(self, path: str, key: str) -> None:
        told = self._told_conflict.setdefault(path, {})
        told[key] = None
        if len(told) > MAX_TOLD_PER_PATH:  # the oldest agent set may be told once more
            del told[next(iter(told))]

    def _forget_closed(self, open_paths: Mapping[str, Overlap]) -> None:
        """What is kept per path goes with its overlap, even one that closed without a
        `resolved` delta (the tracker replaced, a store rewritten)."""
        for path in [p for p in self.classification if p not in open_paths]:
            del self.classification[path]
        for path in [p for p in self._told_conflict if p not in open_paths]:
            del self._told_conflict[path]

    def reclassify(self, now: float, touched: set[str], full: bool,
                    delta: OverlapDelta) -> bool:
        open_overlaps = self._overlaps()
        self._forget_closed(open_overlaps)
        fresh = {o.path for o in (*delta.opened, *delta.changed)}
        changed = False
        for path, overlap in open_overlaps.items():
            if path in fresh:
                continue
            if not full and path in self.classification and \
                    not any(t.endswith(os.sep + path) for t in touched):
                continue
            prediction = self.predict(overlap)
            old = self.classification.get(path)
            self.classification[path] = prediction
            if old is not None and old.classification == prediction.classification and \
                    old.hunks == prediction.hunks:
                continue
            overlap_table.update_overlap(self._store, path, ts=now,
                                         classification=prediction.classification,
                                         detail=prediction.as_json())
            if old is not None and old.classification != prediction.classification:
                changed = True
                data: dict[str, Any] = {"agents": list(overlap.agents),
                                        "classification": prediction.classification,
                                        "previous": old.classification}
                severity = "info"
                key = overlap_key(overlap)
                if prediction.classification == CONFLICT and \
                        key not in self._told_conflict.get(path, ()):
                    # Told once per overlap that it now conflicts, however often it flips.
                    self._tell_conflict(path, key)
                    title, body = reclassified_message(overlap, prediction)
                    log.debug("overlap now conflicts: %s", title)
                    severity = "warning"
                    data = notice({**data, "hunks": [h.as_json() for h in prediction.hunks]},
                                  title, body, dedup=f"overlap-conflict:{key}")
                self._emit(EventKind.OVERLAP_RECLASSIFIED,
                            f"{path} ({', '.join(overlap.agents)}) is now "
                            f"{prediction.classification}", path=path, severity=severity,
                            data=data)
        return changed
