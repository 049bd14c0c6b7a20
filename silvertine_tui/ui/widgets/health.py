"""Health: the trading state, this desk's claims on its brokers (held, pending,
lapsed, lost), every broker (state, latency, last message age, reconnects, the crossed
quotes read from its feed, rate-limit usage, what it counted wrong, reports the bus
refused, what the venue says is wrong (IB: TWS cut off from IB's servers, a data farm
down, messages it could not read), and each of its links: REST, user data, market
streams), the bus (backend, connected, events/s, lag, decode errors, restarts; on a
watching desk each driving desk's bus trouble, named), and the engine's anomaly counts
once there is one (this desk's own; on a watching desk each driving desk's engine,
named)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from rich.style import Style
from rich.text import Text
from textual.timer import Timer

from ...domain import ConnectionState, TradingState
from ...engine.commands import NO_DESK
from ...engine.projection import AnomalySummary
from ...events.client_ids import ClientIds, client_ids_of
from ..format import DASH, age, cut, state_words
from ..model import ComponentHealth
from .palette import DEFAULT_PALETTE, Palette
from .text import TextBlock

Metrics = Mapping[str, int | float | str | bool | None]

DETAIL_MAX = 500
"""Characters of a reason kept in the pane (`format.cut`): any process on the bus says them."""
CLAIMS_COUNT_S = 0.25
"""How often the pane looks at a pending claims line's seconds left (`_count_claims`)."""


@dataclass(frozen=True, slots=True)
class BrokerLine:
    name: str
    state: ConnectionState
    latency_ms: float | None
    last_age_s: float | None
    reconnects: int
    rate_limit: str
    message: str
    links: tuple[LinkLine, ...] = ()
    silent_s: float | None = None
    """Seconds since a watching desk last heard the broker's heartbeat, once they
    stopped or it cannot read the bus itself (`DeskProjection.silent`): its desk may be
    down, or (the bus not connected) this desk hears nothing; None while heard."""
    errors: str = ""
    """What the adapter counted wrong this session (`error:<kind>` metrics), most first."""
    unjournaled: int = 0
    """Reports of the venue (fills, statuses) the bus refused, written again until it
    takes them (`brokers/kept.py`)."""
    md_problems: tuple[tuple[str, str], ...] = ()
    """(instrument, why) of each instrument whose market data has a problem (IB's
    `md_problem:<key>`: 354 not subscribed, 10090 part of it), by instrument: listed
    under the market link with what to do (`md_problem_text`)."""
    notices: tuple[str, ...] = ()
    """What the venue says is wrong that no link's state holds (`notice:<name>`
    metrics, `notices_of`): IB's 2110 (TWS cannot reach IB's servers), a broken data
    farm (2103, 2105, 2157), messages from TWS that could not be read. Each is there
    while it lasts: the adapter takes it out when it is over."""
    crossed: int = 0
    """Crossed quotes (the bid above the ask) this desk read from the broker's feed
    (`FeedModel.crossed_from`): bad market data, or a market crossed for a moment.
    The Quotes row says `crossed` while it lasts and the Log names the instrument as
    it turns crossed; this says how many came from which feed."""
    driven_by: str = ""
    """The desk that drives the broker now, `desk HOST pid PID`, when this desk lost
    its claim on it ("" while this desk drives it): the broker's health on the bus is
    that desk's heartbeat, not this desk's link (this desk closed its own). The pane
    read `paper/main LIVE` under the claims' LOST as if this desk traded there. Once
    that desk is known to have gone, `no desk (desk HOST pid PID quit at ...)`
    (engine/claims.py `ClaimConflict.holder_name`, `NO_DESK`, named to the UI by
    engine/commands.py): said as a free claim this desk takes back by restarting
    (`driven_text`), not as that desk's."""


def driven_text(driven_by: str) -> str:
    """A broker line's words for a broker this desk lost its claim on
    (`BrokerLine.driven_by`): the desk that drives it, or, once that desk is known to
    have gone (`NO_DESK`), that the claim is free and a restart of this desk takes the
    broker back. The line named the desk that took it for as long as this desk ran,
    long after that desk had quit."""
    said = cut(driven_by, 200)
    if driven_by.startswith(NO_DESK):
        gone = said.removeprefix(NO_DESK).strip().removeprefix("(").removesuffix(")")
        return (
            f"claim free as far as this desk knows ({gone}): restart this desk to take "
            "the broker back (claim lost)"
        )
    return f"driven by {said}, not this desk (claim lost)"


@dataclass(frozen=True, slots=True)
class LinkLine:
    """One connection of a broker, from its `link:<name>` and `link_detail:<name>`
    metrics (an adapter with links derives its state from them)."""

    name: str
    state: ConnectionState | None  # None: a state this build does not know
    detail: str = ""
    client_ids: ClientIds | None = None
    """IB's api link: its client ids (`client_id` ... metrics); None when the health
    event has none (another link, or a desk of an older build)."""


CLIENT_ID = re.compile(r"\bclient id (\d+)")
ON_CLIENT_ID = re.compile(r"^\S+ client id (\d+) \(")
"""IB's api link once connected, as an older build's health event says it (no client id
metrics): `HOST:PORT client id N (paper account)`, then what qualifies it after `; `
(another of the desk's client ids in use at TWS, orders under one out of reach, a move
back)."""


def client_id_text(link: LinkLine) -> str:
    """What a LIVE IB api link on a fallback client id means ("" otherwise): IB lets
    only the client id that placed an order change it, so the desk's orders placed
    under its other id (before a restart, before TWS answered 326) cannot be modified
    or cancelled from this session; a LIVE link's detail was not shown at all, and the
    pane said `api LIVE` while a modify of those orders was refused. Read from the
    client id metrics (`LinkLine.client_ids`); a health event without them (journaled
    by an older build, or published by one on the same bus) is read from the link's
    detail, which names the id it is on and, after `; `, the other ids it is about."""
    if link.name != "api" or link.state is not ConnectionState.LIVE:
        return ""
    if link.client_ids is not None:
        current = str(link.client_ids.current)
        about = "; ".join(link.client_ids.about())
        others = [str(i) for i in link.client_ids.others()]
    else:
        found = ON_CLIENT_ID.match(link.detail)
        if found is None:
            return ""
        _, _, about = link.detail.partition("; ")
        current = found.group(1)
        others = sorted(set(CLIENT_ID.findall(about)) - {current}, key=int)
    if not others:
        return ""
    ids = ", ".join(others)
    text = f"on client id {current}, a fallback: {about}"
    if "cannot be changed" not in about:
        text += (
            f"; orders placed under client id {ids} cannot be modified or cancelled from "
            "here (cancel all, the kill switch or TWS still cancel them)"
        )
    return text


def link_lines(metrics: Metrics) -> tuple[LinkLine, ...]:
    found = []
    for key, value in metrics.items():
        if not key.startswith("link:"):
            continue
        name = key.removeprefix("link:")
        try:
            state: ConnectionState | None = ConnectionState(str(value))
        except ValueError:
            state = None
        detail = metrics.get(f"link_detail:{name}")
        found.append(
            LinkLine(
                name,
                state,
                str(detail) if detail is not None else "",
                client_ids_of(metrics) if name == "api" else None,
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class DeskBusLine:
    """Another desk's bus as its last health event said it (a watching desk shows each
    driving desk's bus trouble: engine/session.py names the desk on it)."""

    desk: str  # `desk HOST pid PID`
    state: ConnectionState
    message: str
    age_s: float | None = None  # since it said it (whole seconds), None: not known


@dataclass(frozen=True, slots=True)
class ClaimsLine:
    """This desk's claims on its brokers (`claims_line`): a state word, what it is about
    (the brokers, how long), and why when it is not HELD."""

    state: str  # HELD, PENDING, NOT HELD, LAPSED, LOST
    what: str
    detail: str = ""
    level: str = "ok"  # the palette's: ok, warn, error
    ends_at: float | None = field(default=None, compare=False)
    """PENDING: when the wait ends (`time.monotonic`, the claims' clock): the pane
    counts `what` down by itself (`HealthPane._count_claims`). The wait comes first
    in a desk's start, and the desk draws no frame until its journal is replayed: the
    line read `15s left` while the banner counted 13 -> 2 s."""
    pending: str = field(default="", compare=False)
    """PENDING: the brokers waited for, and what follows the seconds (`also`)."""
    also: str = field(default="", compare=False)

    def counted(self, now: float) -> ClaimsLine:
        """PENDING: the line with the seconds left at `now` (`time.monotonic`)."""
        if self.ends_at is None:
            return self
        return replace(self, what=pending_what(self.pending, self.ends_at - now, self.also))


def pending_what(brokers: str, left_s: float, also: str = "") -> str:
    """`paper: 15s left`, the seconds rounded up (never below 0)."""
    return f"{brokers}: {math.ceil(max(left_s, 0.0))}s left{also}"


class ClaimsState(Protocol):
    """What `Session.claims_health` says (engine/session.py `ClaimsHealth`)."""

    @property
    def held(self) -> tuple[str, ...]: ...
    @property
    def pending(self) -> tuple[str, ...]: ...
    @property
    def pending_left_s(self) -> float: ...
    @property
    def pending_why(self) -> str: ...
    @property
    def lapsed(self) -> str: ...
    @property
    def unrenewed_s(self) -> float: ...
    @property
    def lost(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def not_held(self) -> tuple[str, ...]: ...


def claims_line(claims: ClaimsState) -> ClaimsLine:
    """The worst first: a claim another desk took (this desk sends nothing more), the
    claims unrenewed for half their ttl (nothing new is sent until they are), claims
    pending (the desk waits to connect), a claim not held; else every claim held.
    Times in whole seconds: the pane's text changes once a second, not every frame."""
    held = ", ".join(claims.held)
    also = f"; held {held}" if held else ""
    if claims.lost:
        why = "; ".join(dict.fromkeys(reason for _, reason in claims.lost))
        return ClaimsLine(
            "LOST", ", ".join(broker for broker, _ in claims.lost) + also, why, "error"
        )
    if claims.lapsed:
        every = ", ".join((*claims.held, *claims.pending, *claims.not_held))
        return ClaimsLine(
            "LAPSED",
            f"{every}: not renewed for {math.ceil(claims.unrenewed_s)}s",
            claims.lapsed,
            "error",
        )
    if claims.pending:
        pending = ", ".join(claims.pending)
        return ClaimsLine(
            "PENDING",
            pending_what(pending, claims.pending_left_s, also),
            claims.pending_why,
            "warn",
            ends_at=time.monotonic() + claims.pending_left_s,
            pending=pending,
            also=also,
        )
    if claims.not_held:
        return ClaimsLine("NOT HELD", ", ".join(claims.not_held) + also, "", "warn")
    return ClaimsLine("HELD", held)


@dataclass(frozen=True, slots=True)
class BusLine:
    backend: str
    url: str
    connected: bool
    state: ConnectionState | None
    events_per_s: float
    lag_ms: float
    decode_errors: int
    restarts: int
    data_loss: int
    message: str
    dead_lettered: int = 0  # journal entries Redis refused, kept in <prefix>:deadletter
    duplicates_skipped: int = 0  # buffered entries found already written (a lost reply)
    waiting: int = 0  # execution events held in memory until Redis takes them
    waiting_max: int = 0  # the bound on those (`bus.exec_buffer`)
    error: str = ""  # why this process last failed to reach the bus
    not_shown: int = 0  # entries this desk failed to take in (ui/model.py `_not_shown`)
    not_shown_last: str = ""  # the last of them, and why
    unreadable: str = ""  # streams not read: their key holds another type (bus/redis_streams)
    others: tuple[DeskBusLine, ...] = ()  # other desks' bus trouble (a watching desk)
    claims: ClaimsLine | None = None  # this desk's claims on its brokers (None: it claims none)


@dataclass(frozen=True, slots=True)
class EngineLine:
    """What the engine refused or found wrong this session (see engine/anomalies.py)."""

    counts: tuple[tuple[str, int], ...]
    total: int
    replayed: int
    last: str
    # LIVE once the only findings were position mismatches that resolved (`cleared`)
    state: ConnectionState = ConnectionState.DEGRADED
    cleared: int = 0
    desk: str = ""
    """Whose engine (`desk HOST pid PID`) when it is another desk's; "" for this desk's."""
    others: tuple[EngineLine, ...] = ()
    """Other desks' engines, each named (a watching desk: `AnomalySummary.others`)."""
    silent_s: float | None = None
    """Another desk's: whole seconds its desk has not been heard from, once a watching
    desk judges it silent (`AnomalySummary.silent_s`): its word is not current."""
    said_s: float | None = None
    """Whole seconds since that word was said (while `silent_s` is set)."""


def _engine(anomalies: AnomalySummary, others: tuple[EngineLine, ...] = ()) -> EngineLine:
    return EngineLine(
        counts=anomalies.counts,
        total=anomalies.total,
        replayed=anomalies.replayed,
        last=anomalies.last,
        state=anomalies.state,
        cleared=anomalies.cleared,
        desk=anomalies.desk_name,
        others=others,
        silent_s=anomalies.silent_s,
        said_s=anomalies.said_s,
    )


def engine_line(anomalies: AnomalySummary) -> EngineLine | None:
    """None while nothing was found (the pane then has no engine line): this desk's
    engine's counts (none: only the other desks' lines are drawn), then each other
    desk's engine listed (`AnomalySummary.others`), named."""
    others = tuple(_engine(other) for other in anomalies.others if other.total)
    if not anomalies.total and not others:
        return None
    return _engine(anomalies, others)


def _float(metrics: Metrics, key: str) -> float | None:
    value = metrics.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:  # (a figure no schema bound: `MetricValue` refuses it)
        return None


def _int(metrics: Metrics, key: str) -> int:
    value = _float(metrics, key)
    return int(value) if value is not None else 0


def rate_limit_text(metrics: Metrics) -> str:
    """`rate:weight_1m=0.42` -> `weight_1m 42%`; raw counts are shown as they are."""
    parts = []
    for key, value in sorted(metrics.items()):
        if not key.startswith("rate:") or isinstance(value, bool) or value is None:
            continue
        name = key.removeprefix("rate:")
        if isinstance(value, float) and 0 <= value <= 1:
            parts.append(f"{name} {value * 100:.0f}%")
        else:
            parts.append(f"{name} {value}")
    return ", ".join(parts) or DASH


def md_problems_of(metrics: Metrics) -> tuple[tuple[str, str], ...]:
    """(instrument, why) of every `md_problem:<key>` metric, by instrument."""
    return tuple(
        sorted(
            (key.removeprefix("md_problem:"), str(value))
            for key, value in metrics.items()
            if key.startswith("md_problem:") and value
        )
    )


NOTICE_FIRST = ("tws", "farm")
"""The notices drawn first (`notice:<name>`), in this order; the others after them, by
name."""


def notices_of(metrics: Metrics) -> tuple[str, ...]:
    """The text of every `notice:<name>` metric that says something, TWS's link to
    IB's servers and the data farms first."""
    found = {
        key.removeprefix("notice:"): str(value)
        for key, value in metrics.items()
        if key.startswith("notice:") and value not in (None, "", False)
    }

    def rank(name: str) -> tuple[int, str]:
        return (NOTICE_FIRST.index(name) if name in NOTICE_FIRST else len(NOTICE_FIRST), name)

    return tuple(found[name] for name in sorted(found, key=rank))


MD_PROBLEM_TODO = {
    "354": "no quotes for it, orders still go; subscribe at IB, or set market_data_type: delayed",
    "10090": "its other data flows; subscribe at IB for the rest",
}
"""What to do about a market data problem, by IB's code (docs/operations.md)."""


def md_problem_text(key: str, problem: str) -> str:
    """One instrument's market data problem under the market link, with what to do:
    `AAPL.SMART: 354: Requested market data is not subscribed...: no quotes for it,
    orders still go; subscribe at IB, or set market_data_type: delayed`."""
    code = re.search(r"\((\d+)[:)]|^(\d+):", problem)
    number = next((g for g in code.groups() if g), "") if code else ""
    todo = MD_PROBLEM_TODO.get(number, "no quotes for it while it lasts; see TWS")
    return f"{key}: {cut(problem, DETAIL_MAX)}: {todo}"


def errors_text(metrics: Metrics) -> str:
    """`error:journal=2, error:tws_201=1` -> `3: journal 2, tws_201 1` ("" for none)."""
    counts = [
        (key.removeprefix("error:"), _int(metrics, key))
        for key in metrics
        if key.startswith("error:")
    ]
    counts = sorted((c for c in counts if c[1] > 0), key=lambda c: (-c[1], c[0]))
    if not counts:
        return ""
    total = sum(count for _, count in counts)
    return f"{total}: " + ", ".join(f"{kind} {count}" for kind, count in counts)


def broker_line(
    name: str,
    health: ComponentHealth | None,
    fallback_state: ConnectionState,
    md_last_ns: int | None,
    now_s: float,
    silent_since_ns: int | None = None,
    crossed: int = 0,
) -> BrokerLine:
    metrics: Metrics = health.metrics if health else {}
    # Whole seconds: the pane's text (and so its key) changes once a second, not a frame.
    silent_s = (
        None if silent_since_ns is None else float(max(0, int(now_s - silent_since_ns / 1e9)))
    )
    return BrokerLine(
        name=name,
        state=health.state if health else fallback_state,
        latency_ms=_float(metrics, "rtt_ms"),
        last_age_s=last_message_age(health, md_last_ns, now_s),
        reconnects=_int(metrics, "reconnects"),
        rate_limit=rate_limit_text(metrics),
        message=health.message if health else "",
        links=link_lines(metrics),
        silent_s=silent_s,
        errors=errors_text(metrics),
        unjournaled=_int(metrics, "unjournaled"),
        md_problems=md_problems_of(metrics),
        notices=notices_of(metrics),
        crossed=crossed,
    )


def last_message_age(
    health: ComponentHealth | None, md_last_ns: int | None, now_s: float
) -> float | None:
    """Seconds since the venue last sent this broker anything we hold a time for: the
    newest market data read from the bus, or the freshest per-instrument age the
    adapter reported (`age_s:<key>`, as of its health event, plus that event's own age).

    Not the health event's own time: an adapter publishes one every second from its own
    loop whether or not the venue says anything, so it would read `<1s` through any
    outage. None (shown as a dash) when no venue message is known."""
    ages: list[float] = []
    if md_last_ns:
        ages.append(now_s - md_last_ns / 1e9)
    if health is not None:
        metrics = health.metrics
        found = (_float(metrics, key) for key in metrics if key.startswith("age_s:"))
        reported = [age for age in found if age is not None]
        if reported:
            ages.append(min(reported) + max(0.0, now_s - health.ts_ms / 1000))
    return max(0.0, min(ages)) if ages else None


class HealthPane(TextBlock):
    HANGING = True  # a link's long reason continues under its text at 80x24

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self._last: tuple[object, ...] | None = None
        # What was shown last, while its claims line counts a wait down by itself
        # (`_count_claims`, on `_claims_timer`).
        self._counting: tuple[list[BrokerLine], BusLine, TradingState, EngineLine | None] | None
        self._counting = None
        self._claims_timer: Timer | None = None

    def _state_style(self, state: ConnectionState | None) -> Style:
        p = self.palette
        if state is ConnectionState.LIVE:
            return p.ok
        if state in (ConnectionState.DEGRADED, ConnectionState.RECONCILING):
            return p.warn
        if state is None:
            return p.muted
        return p.error

    def show(
        self,
        brokers: list[BrokerLine],
        bus: BusLine,
        trading: TradingState,
        *,
        force: bool = False,
        engine: EngineLine | None = None,
    ) -> None:
        claims = bus.claims
        if claims is not None and claims.ends_at is not None:
            self._counting = (brokers, bus, trading, engine)
            if self._claims_timer is None and self.is_attached:
                self._claims_timer = self.set_interval(CLAIMS_COUNT_S, self._count_claims)
        else:
            self._counting = None
        key = (tuple(brokers), bus, trading, engine)
        if key == self._last and not force:
            return
        self._last = key
        self.set_text(self.render_text(brokers, bus, trading, engine=engine))

    def _count_claims(self) -> None:
        """The claims line's seconds left, drawn again as they pass, by this pane itself
        while no frame draws it (a desk's start draws none until its replay is done,
        and the claims' wait comes first). Stops once no wait is shown."""
        shown = self._counting
        claims = shown[1].claims if shown is not None else None
        if shown is None or claims is None:
            if self._claims_timer is not None:
                self._claims_timer.stop()
                self._claims_timer = None
            return
        counted = claims.counted(time.monotonic())
        if counted.what != claims.what:
            brokers, bus, trading, engine = shown
            self.show(brokers, replace(bus, claims=counted), trading, engine=engine)

    def render_text(
        self,
        brokers: list[BrokerLine],
        bus: BusLine,
        trading: TradingState,
        *,
        engine: EngineLine | None = None,
    ) -> Text:
        p = self.palette
        text = Text(no_wrap=False, overflow="fold")
        trading_style = (
            p.halted
            if trading is TradingState.HALTED
            else p.warn
            if trading is TradingState.REDUCE_ONLY
            else p.ok
        )
        text.append("Trading ", style="bold")
        text.append(state_words(trading), style=trading_style)
        if bus.claims is not None:
            # Right under the trading state: both say whether this desk sends orders,
            # and a lapse must be in view (at 120x36 the pane shows six rows).
            self._claims(text, bus.claims)
        for line in brokers:
            text.append("\n")
            text.append(line.name, style="bold")
            text.append(" ")
            silent = line.silent_s is not None
            if silent:
                # Its heartbeats stopped: what it last said is not live (engine/watch.py).
                text.append("STALE", style=p.error)
                text.append(f"  not heard from for {_coarse_age(line.silent_s)}", style=p.error)
            elif line.driven_by:
                # Another desk's link (its heartbeat on the bus), not this desk's: said as
                # that desk's, never in this desk's colours of a live link.
                text.append(line.state.value, style=p.muted)
                text.append(f"  {driven_text(line.driven_by)}", style=p.error)
            else:
                text.append(line.state.value, style=self._state_style(line.state))
            latency = f"{line.latency_ms:,.0f}ms" if line.latency_ms is not None else DASH
            last = _coarse_age(line.last_age_s)
            text.append(f"\n  lat {latency}  last {last}  ")
            text.append(f"reconn {line.reconnects}", style=p.warn if line.reconnects else p.plain)
            if line.crossed:
                # Under `last` (the age of its market data): what of that data was bad.
                text.append(
                    f"\n  crossed quotes {line.crossed:,} (bid above ask; the Log names them)",
                    style=p.warn,
                )
            text.append(f"\n  rate {line.rate_limit}")
            if line.errors:
                text.append(f"\n  errors {cut(line.errors, DETAIL_MAX)}", style=p.warn)
            if line.unjournaled:
                text.append(
                    f"\n  {line.unjournaled:,} fills or order updates not journaled: the "
                    "bus refuses them; written again until it takes them",
                    style=p.error,
                )
            for notice in line.notices:
                text.append(f"\n  {cut(notice, DETAIL_MAX)}", style=p.muted if silent else p.warn)
            for link in line.links:
                text.append(f"\n  {link.name} ")
                state = link.state.value if link.state is not None else "?"
                text.append(state, style=p.muted if silent else self._state_style(link.state))
                if link.detail and link.state is not ConnectionState.LIVE:
                    text.append(
                        f" {cut(link.detail, DETAIL_MAX)}", style=p.muted if silent else p.warn
                    )
                elif fallback := client_id_text(link):
                    text.append(
                        f" {cut(fallback, DETAIL_MAX)}", style=p.muted if silent else p.warn
                    )
                if link.name == "market":
                    for key, problem in line.md_problems:
                        text.append(
                            f"\n    {md_problem_text(key, problem)}",
                            style=p.muted if silent else p.warn,
                        )
            if silent and not bus.connected:
                # This desk's own bus is lost (engine/watch.py marks every broker so):
                # nothing it shows of one is current, and its desk is not in question.
                text.append(
                    f"\n  this desk cannot read the bus: last said {line.state.value} "
                    f"{_coarse_age(line.silent_s)} ago; what this desk shows of it is as "
                    "of then",
                    style=p.warn,
                )
            elif silent:
                text.append(
                    f"\n  its desk may be down: last said {line.state.value}; what this desk "
                    "shows of it is as of then (or Redis refuses that desk's writes: out of "
                    "memory, a failover)",
                    style=p.warn,
                )
            elif (
                line.message
                and line.state is not ConnectionState.LIVE
                and not _link_change(line.message, line.links)
            ):
                text.append(f"\n  {cut(line.message, DETAIL_MAX)}", style=p.warn)
        # This process's own connection first: while Redis is unreachable the bus's last
        # health event read back from it (LIVE) is stale, and the one saying it went
        # down waits in memory with everything else.
        bus_state = (
            ConnectionState.DISCONNECTED
            if not bus.connected
            else bus.state
            if bus.state is not None
            else ConnectionState.LIVE
        )
        text.append("\n")
        text.append(f"bus {bus.backend}", style="bold")
        text.append(" ")
        text.append(bus_state.value, style=self._state_style(bus_state))
        if bus.connected:  # (not connected, the state says DISCONNECTED already)
            text.append("  ")
            text.append("connected", style=p.ok)
        text.append(f"\n  {bus.events_per_s:,.0f} ev/s  ")
        text.append(f"lag {bus.lag_ms:,.0f}ms  ", style=p.warn if bus.lag_ms > 1000 else p.plain)
        text.append(
            f"decode err {bus.decode_errors}", style=p.error if bus.decode_errors else p.plain
        )
        text.append("\n  ")
        text.append(f"restarts {bus.restarts}", style=p.error if bus.restarts else p.plain)
        text.append("  ")
        text.append(f"data loss {bus.data_loss}", style=p.error if bus.data_loss else p.plain)
        text.append("  ")
        text.append(
            f"dead-letter {bus.dead_lettered}", style=p.error if bus.dead_lettered else p.plain
        )
        if bus.duplicates_skipped:
            text.append(f"\n  duplicates skipped {bus.duplicates_skipped}", style=p.warn)
        if bus.not_shown:
            text.append(f"\n  not shown {bus.not_shown}: {bus.not_shown_last}", style=p.error)
        if bus.unreadable:
            text.append(
                f"\n  not read, not a stream: {cut(bus.unreadable, DETAIL_MAX)}", style=p.error
            )
        if not bus.connected:
            if bus.error:
                text.append(f"\n  {cut(bus.error, DETAIL_MAX)}", style=p.error)
            text.append(
                f"\n  {bus.waiting:,} events wait in memory (of {bus.waiting_max:,}): "
                "the desk shows them when the bus is back",
                style=p.warn,
            )
        elif bus.message and (
            bus_state is not ConnectionState.LIVE or bus.restarts or bus.data_loss
        ):
            # LIVE after a restart or a loss, its last word says what became of it
            # ("Redis restarted and data was lost (...): resynced from the brokers"):
            # the counts alone said something happened and not what.
            text.append(f"\n  {cut(bus.message, DETAIL_MAX)}", style=p.warn)
        for other in bus.others:
            text.append("\n")
            text.append(f"bus of {cut(other.desk, 200)}", style="bold")
            text.append(" ")
            text.append(other.state.value, style=self._state_style(other.state))
            if other.age_s is not None:
                text.append(f"  {_coarse_age(other.age_s)} ago", style=p.muted)
            if other.message:
                text.append(f"\n  {cut(other.message, DETAIL_MAX)}", style=p.warn)
        if engine is not None:
            self._engine(text, engine)
        return text

    def _claims(self, text: Text, claims: ClaimsLine) -> None:
        p = self.palette
        style = p.error if claims.level == "error" else p.warn if claims.level == "warn" else p.ok
        text.append("\n")
        text.append("claims", style="bold")
        text.append(" ")
        text.append(claims.state, style=style)
        if claims.what:
            text.append(f"  {claims.what}")
        if claims.detail:
            text.append(f"\n  {cut(claims.detail, DETAIL_MAX)}", style=style)

    def _engine(self, text: Text, engine: EngineLine) -> None:
        if engine.total:
            self._engine_block(text, engine)
        for other in engine.others:
            self._engine_block(text, other)

    def _engine_block(self, text: Text, engine: EngineLine) -> None:
        p = self.palette
        text.append("\n")
        # Another desk's engine is that desk's: named, its kinds found on one line.
        text.append(f"engine of {cut(engine.desk, 200)}" if engine.desk else "engine", style="bold")
        text.append(" ")
        degraded = engine.state is not ConnectionState.LIVE
        silent = engine.silent_s is not None
        if silent:
            # Its desk's brokers went quiet (killed, its host lost): its last word is not
            # current, as a STALE broker's (engine/projection.py `judge_desks`).
            text.append("STALE", style=p.error)
            text.append(f"  not heard from for {_coarse_age(engine.silent_s)}", style=p.error)
            text.append(
                f"\n  its desk may be down: last said {engine.state.value} "
                f"{_coarse_age(engine.said_s)} ago, anomalies {engine.total}; as of then, "
                "not current",
                style=p.warn,
            )
        else:
            text.append(engine.state.value, style=p.warn if degraded else p.ok)
            text.append(f"  anomalies {engine.total}", style=p.error if degraded else p.plain)
        if engine.desk:
            found = ", ".join(
                f"{kind.replace('_', ' ')} {count}" for kind, count in engine.counts if count
            )
            if found:
                text.append(
                    f"\n  {found}", style=p.muted if silent else p.error if degraded else p.plain
                )
        else:
            for kind, count in engine.counts:
                text.append(
                    f"\n  {kind.replace('_', ' ')} {count}",
                    style=p.error if count and degraded else p.plain,
                )
        if engine.cleared:
            text.append(f"\n  {engine.cleared} resolved since", style=p.muted)
        if engine.replayed:
            text.append(f"\n  {engine.replayed} more in the replayed journal", style=p.muted)
        if engine.last:
            text.append(f"\n  {cut(engine.last, DETAIL_MAX)}", style=p.muted if silent else p.warn)


def _link_change(message: str, links: tuple[LinkLine, ...]) -> bool:
    """A broker's message that names one of its links (`user: DISCONNECTED - ...`, see
    `Broker.set_link`) says what the link lines above it already show."""
    for link in links:
        said = f"{link.name}: {link.state.value if link.state is not None else '?'}"
        if message in (said, f"{said} - {link.detail}"):
            return True
    return False


def _coarse_age(seconds: float | None) -> str:
    """Whole seconds: a live feed reads `<1s` instead of repainting every frame."""
    if seconds is None:
        return DASH
    return "<1s" if seconds < 1 else age(seconds) if seconds >= 10 else f"{int(seconds)}s"
