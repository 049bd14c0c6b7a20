"""The one way an action reaches the engine: a typed command in, a typed outcome out.

Every action leaving the UI (place, modify, cancel, cancel all, kill, resume, reduce
only) is a `Command` sent through a `CommandGateway`. The gateway never raises for
what is expected to go wrong: a refusal (risk gate, validation, a reused order id)
comes back as `Refused` with its problems, an error as `Failed` with the error's kind.
Commands and outcomes are pydantic models with a `kind` tag, so a gateway that carries
them over a stream instead of calling the engine in process needs no change in a widget.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ..brokers import BrokerError
from ..domain import OrderRequest, OrderValidationError, TradingState
from ..events import Log, LogEvent, LogLevel
from ..events.payloads import REPORT_DESK, REPORT_OF, MetricValue
from .cancels import (
    CancelReport,
    KillReport,
    driven_elsewhere,
    not_cancelled_elsewhere,
)
from .cancels import DrivenElsewhere as DrivenElsewhere  # (for the UI: it names them)
from .claims import NO_DESK as NO_DESK  # (for the UI: ui/widgets/health.py)
from .claims import BrokerClaims
from .core import ENGINE_SOURCE, OrderFinished, OrderUnacknowledged, TradingEngine
from .risk import RiskRejected

log = logging.getLogger(__name__)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


# -- commands -------------------------------------------------------------------------


class PlaceOrder(_Message):
    kind: Literal["place"] = "place"
    request: OrderRequest


class ModifyOrder(_Message):
    """`None` leaves a field as it is."""

    kind: Literal["modify"] = "modify"
    client_order_id: str
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


class CancelOrder(_Message):
    kind: Literal["cancel"] = "cancel"
    client_order_id: str


class CancelAll(_Message):
    """Every working order, or only one broker's / one instrument's."""

    kind: Literal["cancel_all"] = "cancel_all"
    broker: str | None = None
    instrument: str | None = None


class Kill(_Message):
    kind: Literal["kill"] = "kill"
    reason: str = "kill switch"


class Resume(_Message):
    kind: Literal["resume"] = "resume"
    leaving: TradingState | None = None
    """The state the trader was asked to leave. Trading in another by now (another
    desk's kill switch while the dialog was open) refuses it: a resume confirmed over
    REDUCE ONLY must not lift a kill the trader never saw."""


class SetTradingState(_Message):
    """REDUCE_ONLY from the desk; leaving HALTED this way is a resume."""

    kind: Literal["set_trading_state"] = "set_trading_state"
    state: TradingState
    leaving: TradingState | None = None
    """As `Resume.leaving`."""


Command = Annotated[
    PlaceOrder | ModifyOrder | CancelOrder | CancelAll | Kill | Resume | SetTradingState,
    Field(discriminator="kind"),
]


# -- outcomes -------------------------------------------------------------------------


class Problem(_Message):
    """One broken rule. `field` is the order request's field when the rule names one
    (validation), "" when the rule is about the whole order (risk)."""

    field: str = ""
    rule: str
    message: str


class Accepted(_Message):
    """Taken: sent to the venue (whose reports come back through the bus), or done."""

    kind: Literal["accepted"] = "accepted"
    client_order_id: str = ""


class Refused(_Message):
    """Nothing was sent. `source`: the risk gate (a reused order id included), the
    request's own validation, the order's state (`order`: a cancel or change of an
    order already finished, rule `finished`), or this desk's claim on the order's
    broker (`claim`: a cancel or change refused under `claim_lapsed` or `claim_lost`,
    engine/claims.py; nothing is wrong with the order or the change, and no risk limit
    refused it: it was toasted "Modify refused by risk"); `reason` is every problem in
    one line. (A new order refused for the claims stays `risk`: the ticket lists it
    with the gate's refusals.)"""

    kind: Literal["refused"] = "refused"
    source: Literal["risk", "validation", "order", "claim"]
    reason: str
    problems: tuple[Problem, ...]


class Failed(_Message):
    """The command raised. `error_kind` is the error's class (`OrderRejected`,
    `BrokerTimeout`, ...); `retryable` what the broker said of it."""

    kind: Literal["failed"] = "failed"
    error: str
    error_kind: str
    retryable: bool = False


class CancelAllDone(_Message):
    """What a cancel-all did (or REDUCE_ONLY, which cancels what would add to a
    position: `report.what` says so); `report.ok` is False while any order still works."""

    kind: Literal["cancel_all_done"] = "cancel_all_done"
    report: CancelReport
    journaled: bool = False
    """The report is in the journal, a log entry naming this desk
    (`journal_report`): a restart's Log and a watcher show it."""


class KillDone(_Message):
    """The kill switch's report: trading is HALTED whatever it says."""

    kind: Literal["kill_done"] = "kill_done"
    report: KillReport
    journaled: bool = False
    """As `CancelAllDone.journaled`."""


Outcome = Annotated[
    Accepted | Refused | Failed | CancelAllDone | KillDone,
    Field(discriminator="kind"),
]

# Built on first use, like the models.
COMMANDS: TypeAdapter[Command] = TypeAdapter(Command, config=ConfigDict(defer_build=True))
OUTCOMES: TypeAdapter[Outcome] = TypeAdapter(Outcome, config=ConfigDict(defer_build=True))


# -- gateways -------------------------------------------------------------------------


class CommandGateway(Protocol):
    async def send(self, command: Command) -> Outcome:
        """Carry out `command`; never raises for a refusal or an error (see `Outcome`)."""
        ...


CLAIM_LOST = "claim_lost"
"""The rule a cancel or change of an order is refused under when another desk drives
its broker now (engine/session.py refuses new orders under the same rule)."""
CLAIM_LAPSED = "claim_lapsed"
"""The rule engine/session.py refuses orders and changes under while this desk's claims
go unrenewed (`Session._send_guard`)."""
CLAIM_RULES = frozenset({CLAIM_LOST, CLAIM_LAPSED})
"""A cancel or change refused under these alone is `Refused(source="claim")`."""


def driven_elsewhere_of(
    claims: BrokerClaims | None, sources: Mapping[str, str] | None = None
) -> list[DrivenElsewhere]:
    """This desk's brokers another desk drives now (their claims lost), by name, as the
    gateway says them and the UI warns of them before a cancel all or a quit's cancel
    (nothing of theirs is cancelled from this desk). `sources`: each broker's
    `broker/account` as reports name it (its name where not given)."""
    if claims is None or not claims.lost:
        return []
    named = sources or {}
    return [
        DrivenElsewhere(name, named.get(name, name), conflict.taker_name(), conflict.left)
        for name, conflict in sorted(claims.lost.items())
    ]


class EngineGateway:
    """The gateway in process: calls the `TradingEngine` directly.

    `claims`: the desk's claims on its brokers (`Session.claims`). A cancel or change
    of an order whose broker's claim another desk took is refused here, naming that
    desk (`CLAIM_LOST`): the broker is closed on this desk, and its `NotConnected`
    said "send it again once paper/main is LIVE", which never happens here. What a
    cancel all, kill switch or reduce only left working of such a broker is said the
    same way (`driven_elsewhere`)."""

    def __init__(self, engine: TradingEngine, claims: BrokerClaims | None = None) -> None:
        self.engine = engine
        self.claims = claims

    def _lost(self) -> list[DrivenElsewhere]:
        """This desk's brokers another desk drives now (its claims lost)."""
        sources = {name: broker.source for name, broker in self.engine.brokers.items()}
        return driven_elsewhere_of(self.claims, sources)

    def _driven_elsewhere(self, client_order_id: str, what: str) -> Refused | None:
        """Refused when another desk drives the order's broker now."""
        view = self.engine.oms.get(client_order_id)
        if view is None or view.order.status.is_terminal:
            return None  # (the engine says it: unknown, or finished)
        driven = next((d for d in self._lost() if d.broker == view.broker), None)
        if driven is None:
            return None
        message = f"{driven.why()}: nothing was sent; {driven.todo(what)}"
        return Refused(
            source="claim", reason=message, problems=(Problem(rule=CLAIM_LOST, message=message),)
        )

    async def _cancel_all(self, broker: str | None, instrument: str | None) -> CancelReport:
        """The engine's cancel all of the brokers this desk still drives; the orders of
        those another desk drives now are said NOT cancelled at once, refused here
        (`not_cancelled_elsewhere`): their broker is closed on this desk, and its
        cancels went out to it only to fail `NotConnected` after seconds of retries."""
        lost = self._lost()
        engine = self.engine
        names = [broker] if broker is not None else list(engine.brokers)
        away = [d for d in lost if d.broker in names]
        if not away:
            return await engine.cancel_all(broker=broker, instrument=instrument)
        driven = [name for name in names if name not in {d.broker for d in away}]
        report = CancelReport()
        for done in await asyncio.gather(
            *(engine.cancel_all(broker=name, instrument=instrument) for name in driven)
        ):
            report = report.merged(done)
        for each in away:
            working = [
                view.client_order_id
                for view in engine.oms.working(each.broker)
                if instrument is None or view.order.request.instrument == instrument
            ]
            report = report.merged(not_cancelled_elsewhere(each, working))
        return report

    def _said(self, report: CancelReport) -> CancelReport:
        """`report`, its orders of brokers another desk drives said so."""
        lost = self._lost()
        if not lost:
            return report
        oms = self.engine.oms

        def broker_of(client_order_id: str) -> str | None:
            view = oms.get(client_order_id)
            return view.broker if view is not None else None

        return driven_elsewhere(report, lost, broker_of)

    async def send(self, command: Command) -> Outcome:
        try:
            return await self._run(command)
        except RiskRejected as exc:
            claim = (
                isinstance(command, ModifyOrder | CancelOrder)
                and bool(exc.violations)
                and all(v.rule in CLAIM_RULES for v in exc.violations)
            )
            return Refused(
                source="claim" if claim else "risk",
                reason=str(exc),
                problems=tuple(
                    Problem(field=v.field, rule=v.rule, message=v.message) for v in exc.violations
                ),
            )
        except OrderValidationError as exc:
            return Refused(
                source="validation",
                reason=str(exc),
                problems=tuple(
                    Problem(field=i.field, rule=i.rule, message=i.message) for i in exc.issues
                ),
            )
        except (OrderFinished, OrderUnacknowledged) as exc:
            return Refused(
                source="order",
                reason=str(exc),
                problems=(Problem(rule=exc.rule, message=str(exc)),),
            )
        except (BrokerError, KeyError) as exc:  # a venue's answer, an unknown order or broker
            log.warning("commands.failed", extra={"command": command.kind, "error": _text(exc)})
            return Failed(
                error=_text(exc),
                error_kind=type(exc).__name__,
                retryable=getattr(exc, "retryable", False),
            )
        except Exception as exc:
            log.exception("commands.crashed", extra={"command": command.kind})
            return Failed(error=_text(exc), error_kind=type(exc).__name__)

    async def _run(self, command: Command) -> Outcome:
        engine = self.engine
        if isinstance(command, Resume | SetTradingState):
            moved = _state_moved(command, engine.gate.state)
            if moved is not None:
                return moved
        match command:
            case PlaceOrder(request=request):
                return Accepted(client_order_id=await engine.submit(request))
            case ModifyOrder():
                refused = self._driven_elsewhere(command.client_order_id, "change")
                if refused is not None:
                    return refused
                await engine.modify(
                    command.client_order_id,
                    quantity=command.quantity,
                    limit_price=command.limit_price,
                    stop_price=command.stop_price,
                )
                return Accepted(client_order_id=command.client_order_id)
            case CancelOrder(client_order_id=cid):
                refused = self._driven_elsewhere(cid, "cancel")
                if refused is not None:
                    return refused
                await engine.cancel(cid)
                return Accepted(client_order_id=cid)
            case CancelAll(broker=broker, instrument=instrument):
                report = self._said(await self._cancel_all(broker, instrument))
                of = " ".join(part for part in (broker, instrument) if part)
                journaled = await journal_report(
                    engine, f"cancel all of {of}" if of else "cancel all", report
                )
                return CancelAllDone(report=report, journaled=journaled)
            case Kill(reason=reason):
                kill = await engine.kill(reason)
                kill = dataclasses.replace(kill, cancels=self._said(kill.cancels))
                return KillDone(
                    report=kill, journaled=await journal_report(engine, "kill switch", kill)
                )
            case Resume():
                await engine.resume()
                return Accepted()
            case SetTradingState(state=state):
                report = self._said(await engine.set_trading_state(state))
                if state is TradingState.REDUCE_ONLY:
                    journaled = await journal_report(engine, "reduce only", report)
                    return CancelAllDone(report=report, journaled=journaled)
                return Accepted()
        raise TypeError(f"unknown command {command!r}")  # pragma: no cover - exhaustive


async def journal_report(
    engine: TradingEngine, what: str, report: CancelReport | KillReport
) -> bool:
    """Journal what a cancel all, kill switch or reduce only did, as a log entry naming
    this desk (`engine.desk_name`; its id in `REPORT_DESK`): the Log pane showed it only
    from its toast, so a restart's Log and a watching desk never had it. An ERROR while
    anything failed (toasted on the other desks that read it; this desk's own toast
    said it: ui/model.py `_own_report`). False when it is not written now (the toast's
    own Log line stands in for it): Redis refused it (said in the log file), or is out of
    reach (not kept for later: the bus held it in memory and returned no id, and the
    Log lost the line for the whole outage, or for good when the desk quit before Redis
    came back), or the engine drives no broker (a watching desk: the driving desks say
    theirs)."""
    if not engine.brokers:
        return False
    if not engine.bus.stats.connected:
        log.info("commands.report_not_journaled", extra={"what": what, "why": "bus down"})
        return False
    headline = report.headline()
    level = LogLevel.INFO if report.ok else LogLevel.ERROR
    said = f"{engine.desk_name}, {what}{f' ({headline})' if headline else ''}: {report.summary()}"
    fields: dict[str, MetricValue] = {REPORT_OF: what, REPORT_DESK: engine.desk_id}
    try:
        entry = await engine.bus.publish(
            LogEvent.create(ENGINE_SOURCE, Log(level=level, message=said, fields=fields))
        )
    except Exception:
        log.exception("commands.report_not_journaled", extra={"what": what})
        return False
    return entry is not None  # (None: held in memory, Redis lost as it went)


def _state_moved(command: Resume | SetTradingState, now: TradingState) -> Refused | None:
    """Refused when trading left the state the command was confirmed to leave."""
    if command.leaving is None or command.leaving is now:
        return None
    message = (
        f"trading went {now} while you were asked to leave {command.leaving}: "
        "nothing changed; look at the desk and ask again"
    )
    return Refused(
        source="risk",
        reason=message,
        problems=(Problem(rule="trading_state_changed", message=message),),
    )


def _text(exc: BaseException) -> str:
    """What the exception says. A KeyError's message without the quotes `str` adds."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)
