"""Reading a snapshot back: the newest one on its stream, what it restores of the desk's
read model, and whether the journal after it still holds what the snapshot does not.

Shared by the engine's recovery (`recovery.load_snapshot`) and by a desk built from the
bus alone (`projection.project`): both must stand on the same snapshot, or a desk
rebuilt from a trimmed journal comes up short of the live one without a word.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from ..bus import EventBus
from ..bus.base import StreamInfo, parse_id
from ..events import OrderSpan, Snapshot, SnapshotEvent
from .oms import OrderView
from .portfolio import PositionState

if TYPE_CHECKING:
    from .projection import DeskProjection

log = logging.getLogger(__name__)


async def latest_snapshot(bus: EventBus, broker: str, account: str) -> Snapshot | None:
    """The newest snapshot, read from the end of the stream (XREVRANGE COUNT 1).

    Should the newest entry not decode (damaged, or written by a newer build), the
    newest one that does among the few kept is used, and a warning says which.
    """
    stream = bus.layout.snap(broker, account)
    newest = await bus.read_last(stream, 1)
    if not newest:
        return None
    if isinstance(newest[0].event, SnapshotEvent):
        return newest[0].event.payload
    for entry in await bus.read_last(stream, max(bus.options.snapshot_keep, 2)):
        if isinstance(entry.event, SnapshotEvent):
            log.warning(
                "recovery.newest_snapshot_unreadable",
                extra={"stream": stream, "skipped": newest[0].id, "used": entry.id},
            )
            return entry.event.payload
    return None


def restore(projection: DeskProjection, snapshot: Snapshot) -> None:
    """The orders, positions, fills and fee corrections already booked, balances and the
    venue's position reports `snapshot` holds, into `projection` (its OMS and
    portfolio), as they stood live."""
    oms, portfolio = projection.oms, projection.portfolio
    adopted = set(snapshot.adopted)
    spans = {span.client_order_id: span for span in snapshot.spans}
    no_span = OrderSpan(client_order_id="")
    # Finished orders enter the window in the order they finished, as they did live.
    for order in sorted(
        snapshot.orders, key=lambda o: spans.get(o.client_order_id, no_span).finished_ns
    ):
        span = spans.get(order.client_order_id, no_span)
        view = OrderView(
            snapshot.broker,
            snapshot.account,
            order.model_copy(deep=True),
            adopted=order.client_order_id in adopted,
            created_ns=span.created_ns,
            first_entry=span.first_entry,
            last_entry=span.last_entry,
        )
        oms.add(view, span.finished_ns)
    for pos in snapshot.positions:
        inst = portfolio.instruments.get(pos.instrument)
        state = PositionState(
            pos.broker,
            pos.account,
            pos.instrument,
            currency=pos.currency,
            multiplier=inst.multiplier if inst is not None else Decimal(1),
            quantity=pos.quantity,
            avg_price=pos.avg_price,
            fees=dict(pos.fees),
            fee_values=dict(pos.fee_values),
        )
        # the snapshot holds realized P&L net of fees: add them back to get the gross
        state.realized_gross = pos.realized_pnl - state.realized_pnl
        portfolio.positions[(pos.broker, pos.account, pos.instrument)] = state
    positions = portfolio.positions
    broker, account = snapshot.broker, snapshot.account
    for pos in snapshot.venue_positions:
        portfolio.venue_positions[(pos.broker, pos.account, pos.instrument)] = pos
    # The exec ids (and fee corrections) applied before `covers`, oldest first as live
    # (then those the orders hold: all a snapshot written before these had): a repeat
    # after `covers` is refused.
    for exec_id in snapshot.seen_exec_ids:
        portfolio.mark_fill_seen(broker, account, exec_id)
    for exec_id in snapshot.seen_fee_ids:
        portfolio.mark_fee_seen(broker, account, exec_id)
    for kept in snapshot.kept_fills:
        held = positions.get((snapshot.broker, snapshot.account, kept.instrument))
        if held is not None:
            held.before_older, held.older = kept.before_older, list(kept.older)
            held.before_recent, held.recent = kept.before_recent, list(kept.recent)
    for order in snapshot.orders:
        for exec_id in order.exec_ids:
            portfolio.mark_fill_seen(broker, account, exec_id)
        for exec_id in order.fee_corrected:
            portfolio.mark_fee_seen(broker, account, exec_id)
    for fill in snapshot.last_fills:
        portfolio.note_last_fill(fill)
        oms.hold((fill.broker, fill.account, fill.instrument), fill.client_order_id)
    for instrument, exec_ids in snapshot.same_time_fills.items():
        for exec_id in exec_ids:
            portfolio.mark_fill_seen(snapshot.broker, snapshot.account, exec_id)
            portfolio.tie(snapshot.broker, snapshot.account, instrument, exec_id)
    for bal in snapshot.balances:
        portfolio.balances[(bal.broker, bal.account, bal.currency)] = bal


def journal_gap(covers: str | None, info: StreamInfo | None) -> str:
    """Why entries a rebuild needs are gone from the journal ("" when none are): with a
    snapshot (`covers`, the entry it covers), that entry is gone and entries left the
    stream (trims keep that entry: a newer snapshot's trim went past it, one this build
    could not read, and the entries between may be gone); without one, the journal lost
    its first entries (the snapshots lost, the journal trimmed behind them). A stream
    Redis lost and the desk wrote anew (entries added = length) is no gap: that loss was
    said and resynced when it happened, and a snapshot written then covers an entry the
    new stream never had. An emptied journal (`XTRIM MAXLEN 0`, a MINID past its last
    entry) is a gap when it had entries beyond what the snapshot covers (its last
    generated id past `covers`), or with no snapshot when it had any."""
    if info is None:
        return ""
    if info.first_id is None:
        return _emptied(covers, info)
    # Else nothing left it since it was made (Redis before 7 does not say: no check).
    trimmed = info.counts_added and info.entries_added > info.length
    if covers is not None and trimmed and parse_id(info.first_id) > parse_id(covers):
        return (
            f"the journal now starts at {info.first_id}, after the entry {covers} the "
            "snapshot used covers: entries between them may have been trimmed"
        )
    if covers is None and trimmed:
        return (
            f"there is no snapshot and the journal's first "
            f"{info.entries_added - info.length} entries were trimmed"
        )
    return ""


def _emptied(covers: str | None, info: StreamInfo) -> str:
    """`journal_gap` of a stream that holds no entry."""
    last = info.last_generated_id
    if covers is not None:
        if parse_id(last) <= parse_id(covers):
            return ""  # nothing was written after the entry the snapshot covers
        return (
            f"the journal holds no entries: it had entries up to {last}, after the "
            f"entry {covers} the snapshot used covers, and they were trimmed"
        )
    if info.counts_added:
        if not info.entries_added:
            return ""
        return (
            f"there is no snapshot and all the journal's {info.entries_added} entries were trimmed"
        )
    if parse_id(last) == (0, 0):
        return ""
    return f"there is no snapshot and the journal's entries (up to {last}) were all trimmed"
