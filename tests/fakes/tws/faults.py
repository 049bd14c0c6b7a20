"""What the test has armed: one-shot faults the server consumes as requests arrive.

Request kinds (for `pace_next` and `omit_next_end`): positions, open_orders,
all_open_orders, completed_orders, account_updates, account_updates_multi, executions,
contract_details, market_data, place_order, cancel_order.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

REQUEST_KINDS = frozenset(
    {
        "positions",
        "open_orders",
        "all_open_orders",
        "completed_orders",
        "account_updates",
        "account_updates_multi",
        "executions",
        "contract_details",
        "market_data",
        "place_order",
        "cancel_order",
    }
)

PACING_MESSAGES = {
    100: "Max rate of messages per second has been exceeded:max=50 rec=51 (1)",
    162: "Historical Market Data Service error message:API scanner subscription "
    "cancelled: pacing violation",
    420: "Invalid Real-time Query:Trading TWS session is connected from a different IP "
    "address / pacing violation",
}


ORDER_STATUS = 3
EXEC_DETAILS = 11
COMMISSION_REPORT = 59
REPORTS = frozenset({ORDER_STATUS, EXEC_DETAILS, COMMISSION_REPORT})
"""The messages that report on an order: what `ReportFaults` repeats."""


@dataclass
class ReportFaults:
    """Standing (not one-shot) faults on every order report a session is sent.

    `duplicate`: each orderStatus, execDetails and commissionReport goes out twice.
    `late`: when an order's status changes, the orderStatus sent before it is sent again
    after the new one, at the end of the batch (a "Submitted" after "Filled", a partial
    after a later partial), as TWS does now and then. `repeated` counts the frames that
    really went out again (written to an open socket).
    """

    duplicate: bool = False
    late: bool = False
    repeated: int = 0
    # message id -> (field index, text) of its next frames: sent with that field
    # written as the text (`FakeTws.garble_next`), one frame each
    garbled: dict[int, deque[tuple[int, str]]] = field(default_factory=lambda: defaultdict(deque))

    def garble(self, kind: int, fields: list[Any]) -> list[Any]:
        """`fields` as they go out: with one field written otherwise when a garble of
        message `kind` waits (`garbled`), else as they are."""
        waiting = self.garbled.get(kind)
        if not waiting:
            return fields
        index, text = waiting.popleft()
        written = list(fields)
        written[index] = text
        return written


@dataclass
class Faults:
    # kind -> error codes answered instead of serving the next requests of that kind
    pacing: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    # kind -> how many of the next answers go out without their end marker
    missing_ends: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # (code, reason) for the next new orders or modifies
    order_rejections: deque[tuple[int, str]] = field(default_factory=deque)
    # (code, text) of a warning sent ahead of the next accepted orders or modifies
    order_warnings: deque[tuple[int, str]] = field(default_factory=deque)
    commission_first: int = 0
    # live fills whose position (and account) update goes out before their execDetails
    positions_first: int = 0
    # live fills whose commission report is held back until `release_commissions`
    commission_held: int = 0
    # live fills whose commission report first says "unset" (IB's max double), then
    # the real one follows
    commission_unset_first: int = 0
    # live fills whose execDetails (and commission) wait for `release_executions`
    executions_held: int = 0
    lost_order_answers: int = 0
    # kind -> how many of the next requests of that kind TWS silently ignores
    ignored: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    duplicate_replays: int = 0
    # how the order of each of the next cancels ends just before TWS takes the cancel
    cancel_races: deque[str] = field(default_factory=deque)
    # seconds TWS takes each of the next modifies only after (a slow replace)
    modify_delays: deque[float] = field(default_factory=deque)
    # the next modifies each lose a race with a fill of the whole order
    modify_races: int = 0
    # (order id, new ticket): changes made in TWS's window before the next listing
    changes_before_listing: list[tuple[int, Any]] = field(default_factory=list)
    # (order id, code, text): warnings sent right after the next open-orders listing
    warnings_after_listing: list[tuple[int, int, str]] = field(default_factory=list)
    reserved_client_ids: set[int] = field(default_factory=set)
    # client id -> seconds TWS takes to start the API for it (`slow_start`)
    start_delays: dict[int, float] = field(default_factory=dict)
    reports: ReportFaults = field(default_factory=ReportFaults)
    connectivity_lost: bool = False
    # TWS stopped (`freeze`): a connection made meanwhile is accepted and not read
    frozen: bool = False
