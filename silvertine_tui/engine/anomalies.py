"""What the engine refused or found wrong, counted per kind and shown to the trader.

The engine records an anomaly while it applies an event (`Anomalies.record`), and
publishes what is new as a health event of component `engine` (state DEGRADED, the
counts as metrics, what happened as the message) from the session's reader; the UI
turns it into a toast and the health pane shows the counts. While the journal is
replayed at start-up the same findings are counted apart (`replayed`) and never
published: they were shown when they happened.

Kinds:
- `overfill`: a fill beyond the order's quantity. The position takes it (fills are
  money), the order does not.
- `unknown_order`: a fill or status report for an order the journal does not know.
  Counted at once, not after a wait: the broker journals a request before it sends it,
  so a report can only come first for an order placed elsewhere (another terminal, the
  venue's own screen) or lost from the journal. Should the request still arrive, the
  parked reports are applied to it then.
- `refused_report`: a report that contradicts how an order ended, e.g. the venue
  working or filling an order we hold as REJECTED. A late copy of an earlier stage
  (NEW after FILLED) is normal and not counted. A fill for an order that finished and
  left memory (the OMS's window) is counted here too: the position took it, the
  order did not.
- `position_mismatch`: a reconcile found the venue's position different from ours
  (it took the venue's quantity), or a position the venue reported has disagreed with
  our fills for `TradingEngine.position_settle_ns` (10 s) without the fills catching
  up. A venue may report a position before the executions it includes (TWS does: the
  position after a market order's last fill can come ahead of its second and third
  execDetails), so a disagreement is only watched at first; fills that bring ours to
  the venue's quantity, or a later report that agrees, end it unreported. Counted once
  until the two agree again.
- `reopened`: a reconcile found open at the venue an order that ended here (FILLED on
  a venue's report that filled more than the order, which the venue then listed NEW),
  and the venue, asked again, still holds it open: the order is re-opened at the
  venue's word (engine/recovery.py `_reopen`), so it shows working and `c` or the kill
  switch cancel it; what ended it here was wrong, and the trader checks the order and
  its fills at the venue. Left ended, it was invisible and uncancellable on the desk
  while the venue worked it with funds locked.
- `not_applied`: an entry the engine could not apply (it raised: data no check caught,
  such as a fill of 10^500000 whose notional overflows). It is skipped and the engine
  goes on with the next, live and in a recovery alike; what it touches may be wrong.

The engine's health state says whether anything still needs the trader: DEGRADED
while a position mismatch stands, and after any anomaly nothing on the desk can clear
(an overfill, an unknown order, a refused report, a reconcile that had to take the
venue's quantity or re-open an order); LIVE when the only findings were position
mismatches that have since resolved themselves (the fills caught up, or the venue came
round to ours). The counts stay for the session either way: a resolved mismatch still says
"position mismatch 1", with how many resolved (`cleared`).

Every desk on a prefix publishes its engine's health under component `engine`, so
the health names the desk whose engine it is (`desk`, `desk_name`: `Anomalies.desk`,
set by the session as it names its bus's health): kept under one key, another desk's
overfill was this desk's engine line and toast. The UI keeps engine health per desk
(engine/projection.py `DeskProjection.own_desk`, ui/model.py `health_key`); an
older build's names no desk and is taken as the desk's own, as before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from ..domain import ConnectionState, OrderStatus
from ..events import Decoded, DecodeError, UnknownEvent

ENGINE_COMPONENT = "engine"
DESK = "desk"
"""The metric naming the desk whose engine (or bus) wrote a health event: the token of
its claims' `DeskId` (engine/session.py `BUS_DESK`, the same key)."""
DESK_NAME = "desk_name"
"""The same desk as the trader knows it, `desk HOST pid PID`."""


WORDS_KEPT = 200
"""Characters kept of what a bad entry says of itself (its reason, its type): an
entry's fields may be megabytes, and a type name is anyone's words on the bus."""


def unreadable_message(stream: str, entry_id: str, decoded: Decoded, *, prefix: str) -> str:
    """What the trader is told of a journal entry this build cannot read (`decoded` a
    `DecodeError` or an `UnknownEvent`): which entry, why, what may be wrong because
    of it and what to do. `prefix` is the bus's key prefix: an execution journal
    (`{prefix}:exec:{broker}:{account}`) names its account; any other stream is taken
    for the risk stream."""
    newer = False
    if isinstance(decoded, UnknownEvent):
        kind = decoded.type[:40]
        known = decoded.known_version
        newer = True
        if known is not None:
            what = (
                f"{kind} {entry_id} on {stream} was written by a newer Silvertine "
                f"(schema v{decoded.v}; this desk reads up to v{known})"
            )
        else:
            what = (
                f"entry {entry_id} on {stream} is of a type this desk does not know "
                f"({kind!r} v{decoded.v}: written by a newer Silvertine?)"
            )
    elif isinstance(decoded, DecodeError):
        what = f"entry {entry_id} on {stream} could not be read ({decoded.reason[:WORDS_KEPT]})"
    else:
        what = f"entry {entry_id} on {stream} could not be read"
    broker, sep, account = stream.removeprefix(f"{prefix}:exec:").partition(":")
    if sep and stream.startswith(f"{prefix}:exec:"):
        wrong = (
            f"the orders and positions of {broker}/{account} may be wrong here (a fill or "
            "a report missing): check them at the venue"
        )
    else:
        wrong = (
            "the trading state may be wrong here (a kill switch, a reduce only or a "
            "resume missing): check it on the desk that set it"
        )
    upgrade = ", and upgrade this desk" if newer else ""
    return f"{what} and was not applied; {wrong}{upgrade}"


class AnomalyKind(StrEnum):
    OVERFILL = "overfill"
    UNKNOWN_ORDER = "unknown_order"
    REFUSED_REPORT = "refused_report"
    POSITION_MISMATCH = "position_mismatch"
    NOT_APPLIED = "not_applied"
    JOURNAL_GAP = "journal_gap"
    REOPENED = "reopened"
    ORDER_GONE = "order_gone"


S = OrderStatus
# Reports that contradict an order's final status (rather than arriving late).
CONTRADICTS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.REJECTED: frozenset({S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.CANCELED: frozenset({S.FILLED, S.REJECTED}),
    S.EXPIRED: frozenset({S.FILLED, S.REJECTED}),
    S.FILLED: frozenset({S.REJECTED}),
}


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    message: str
    resolved: bool = False  # news that a standing one (a position mismatch) ended


@dataclass(slots=True)
class Anomalies:
    counts: Counter[str] = field(default_factory=Counter)
    replayed: Counter[str] = field(default_factory=Counter)
    pending: list[Anomaly] = field(default_factory=list)
    last: str = ""

    cleared: int = 0  # counted position mismatches that have since resolved
    desk: dict[str, str] = field(default_factory=dict)
    """What names this desk on its engine's health (`DESK`, `DESK_NAME`), given by the
    session; empty: an engine of no desk (a test's, a rebuild's), named by none."""

    def record(self, kind: AnomalyKind, message: str, *, replaying: bool) -> None:
        if replaying:
            self.replayed[kind] += 1
            return
        self.counts[kind] += 1
        self.last = message
        self.pending.append(Anomaly(kind, message))

    def resolve(self, kind: AnomalyKind, message: str, *, replaying: bool) -> None:
        """A counted anomaly that stood (a position mismatch) ended by itself: it stays
        counted, and is published as news (no toast: the count does not grow)."""
        if replaying:
            return
        self.cleared += 1
        self.last = message
        self.pending.append(Anomaly(kind, message, resolved=True))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def state(self) -> ConnectionState:
        """DEGRADED while a counted anomaly still needs the trader (all but the
        resolved position mismatches), else LIVE."""
        return ConnectionState.DEGRADED if self.total > self.cleared else ConnectionState.LIVE

    def metrics(self) -> dict[str, int | float | str | bool | None]:
        metrics: dict[str, int | float | str | bool | None] = {
            kind.value: self.counts[kind] for kind in AnomalyKind
        }
        metrics["anomalies"] = self.total
        metrics["cleared"] = self.cleared
        metrics["replayed"] = sum(self.replayed.values())
        metrics.update(self.desk)
        return metrics

    def take(self) -> list[Anomaly]:
        pending, self.pending = self.pending, []
        return pending
