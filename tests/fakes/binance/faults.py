"""What the test has armed: one-shot faults the server consumes as requests arrive."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from tests.fakes.binance.exchange import BinanceError


@dataclass
class Faults:
    clock_skew_ms: int = 0
    # 429 then 418: the next `throttled` REST requests answer 429 with Retry-After; a
    # request sent before that wait is over answers 418 and starts a ban of `ban_s`.
    throttled: int = 0
    retry_after_s: float = 1.0
    ban_s: float = 2.0
    retry_not_before: float = 0.0
    banned_until: float = 0.0
    order_rejections: deque[BinanceError] = field(default_factory=deque)
    # The next order amends (`reject_next_amend`): refused after their checks pass.
    amend_rejections: deque[BinanceError] = field(default_factory=deque)
    # The next order amends (`race_next_amend`): their order fills this much first.
    amend_races: deque[Decimal] = field(default_factory=deque)
    racing_cancels: int = 0
    refused_cancels: int = 0
    failed_cancels: int = 0
    failed_cancels_processed: bool = False
    duplicate_reports: int = 0
    reorder_reports: int = 0
    report_before_reply: float | None = None
    swallowed_replies: int = 0
    # The next `unknown_status_replies` new-order replies, `unknown_status_cancels`
    # cancel replies, `unknown_status_replaces` cancelReplace replies (their new order)
    # and `unknown_status_reports` executionReports carry `unknown_status` as the
    # order's status: a value Binance added to its enum (EXPIRED_IN_MATCH came that
    # way) that a client does not know.
    unknown_status: str = "EXPIRED_IN_SOMETHING"
    unknown_status_replies: int = 0
    unknown_status_reports: int = 0
    unknown_status_cancels: int = 0
    unknown_status_replaces: int = 0
    # The next `unknown_status_replace_cancels` cancelReplace answers carry it in their
    # `cancelResponse` (the old order's cancel), in a success or in a -2021's `data`.
    unknown_status_replace_cancels: int = 0
    # The next `unknown_status_queries` order queries (GET order) answer it.
    unknown_status_queries: int = 0
    # The next `reset_requests` REST requests lose their connection (TCP abort, no
    # answer), after the server acted on them or, if not `reset_after_processing`, before.
    reset_requests: int = 0
    reset_after_processing: bool = True
    reset_path: str | None = None  # only requests to this path (`/api/v3/order`); None: any
    # The next `failed_requests` REST requests answer HTTP `fail_status` with `fail_body`
    # (None: Binance's -1007 JSON), after the server acted on them or, if not
    # `fail_after_processing`, before.
    failed_requests: int = 0
    fail_status: int = 503
    fail_body: str | None = None
    fail_after_processing: bool = True
    fail_path: str | None = None  # only requests to this path (`/api/v3/myTrades`); None: any
    fail_method: str | None = None  # only requests of this method (`GET`); None: any
    # Requests to (path, symbol) answer HTTP status (Binance's -1007 JSON) until the
    # entry is removed: one symbol's queries failing while the others' answer.
    failing_symbols: dict[tuple[str, str], int] = field(default_factory=dict)
    # Requests of (method, path, symbol) answer this Binance error (a 429 or 418 with
    # `Retry-After`: `retry_after_s`, `ban_s`), before the server acts on them, until the
    # entry is removed: one symbol's cancel all refused while the others' go through.
    symbol_errors: dict[tuple[str, str, str], BinanceError] = field(default_factory=dict)
    # The next `delayed_replies` REST answers go out `reply_delay_s` late (after acting).
    delayed_replies: int = 0
    reply_delay_s: float = 0.0
    # Weight other clients on the same IP use each minute (added to the header).
    background_weight: int = 0
    # `/time` answers this far off the clock the timestamp check uses.
    time_error_ms: int = 0
    dropped_depth_updates: dict[str, int] = field(default_factory=dict)
    refused_api_connects: int = 0
    refused_stream_connects: int = 0
    # Requests to (method, path) are acted on at once and answered this many seconds
    # late, until the entry is removed (a slow endpoint: an overloaded listing).
    slow_paths: dict[tuple[str, str], float] = field(default_factory=dict)
    # While set, no REST request is acted on or answered: "cut" cuts its connection at
    # once, "hang" holds it open without an answer (cut once REST answers again).
    # The WebSocket API and the market streams go on.
    rest_outage: str | None = None
