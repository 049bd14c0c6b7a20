"""The socket to TWS: connect (never raising because TWS is away), reconnect with
backoff, rebuild from TWS after every (re)connect, and TWS's own link to IB (1100 /
1101 / 1102).

Client ids. IB lets only the client id that placed an order modify or cancel it (the
global cancel aside). Each connect tries first the id this desk's working orders are
under (the configured `client_id` when none work: `_home_index`), then the others of
`client_id_fallbacks` in order when TWS answers 326 (in use: often this desk's own
dropped socket, which TWS has not let go yet). Connected on another id, the session
asks TWS now and then whether that id is free (a second, bare handshake: `_id_free`)
and moves back to it when it is, unless an order of the desk works under the id it is
on, or a place, modify or cancel is under way (`_go_home`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math

from ib_async import IB, ExecutionFilter

from ...domain import ConnectionState
from ...events import Log, LogEvent, LogLevel, client_ids
from ...events.client_ids import ClientIds
from ..errors import BrokerError
from . import codes
from .contracts import to_decimal
from .fees import latest_executions
from .market import DATA_TYPES
from .state import IBState
from .translate import UNSET_DOUBLE

log = logging.getLogger(__name__)

L = ConnectionState

CATCHING_UP = (
    "catching up with TWS (its orders and the day's executions): cancels go; new orders "
    "wait until it is LIVE"
)
"""The `ib` link's detail while the catch-up after 1101/1102 runs."""

REBUILDING = (
    "rebuilding what TWS holds (its orders, the day's executions, positions): cancels "
    "go; new orders and changes wait until it is LIVE"
)
"""The `api` link's detail while the rebuild after a (re)connect runs (`_after_connect`)."""

IB_UNKNOWN = "not known while TWS is unreachable"
"""The start of the `ib` link's detail while the socket to TWS is down (`_ib_unknown`):
TWS's link to IB is TWS's to say, and nothing of TWS is heard then."""

IB_UNANSWERED = "not known while TWS does not answer"
"""The start of the `ib` link's detail while TWS does not answer the watchdog, its
socket open (`_ib_unanswered`): hung, TWS says nothing of its link to IB either."""


def _as_heard(state: ConnectionState, detail: str) -> str:
    """The `ib` link as TWS last said it, short: its state and the head of its detail
    (`DEGRADED, TWS lost its connection to IB (1100)`), without what it said the desk
    does meanwhile (cancels go, new orders wait: not so with TWS unreachable)."""
    head = detail.split("; ")[0]
    if "): " in head:
        head = head.split("): ")[0] + ")"
    return f"{state.value}, {head}" if head and state is not L.LIVE else state.value


def _seconds(value: float) -> str:
    """A wait as the health pane says it, never more than it was: whole seconds from
    10 s, else tenths (`0.2`, `5`, `15`, `60`; 60.7 is `60`). (The float's own error
    is no shortfall: 1.2 s is `1.2`, never `1.1`.)"""
    if value >= 10:
        return str(math.floor(value + 1e-6))
    return f"{math.floor(value * 10 + 1e-6) / 10:.1f}".rstrip("0").rstrip(".")


def _stale_quotes(said: str) -> str:
    """The market link's detail while TWS does not answer the watchdog (`said`: for
    how long, as `_seconds` writes it)."""
    return f"TWS has not answered for {said} s: the quotes shown are stale (a hung TWS sends none)"


class IBSession(IBState):
    # The watchdog's state beside `_unanswered` (`_ask_if_tws_answers`): when the first
    # question TWS left unanswered was asked (loop time), whether the market link was
    # set DEGRADED for it, and why the watchdog dropped the socket (`_lost` says it).
    _unanswered_since = 0.0
    _market_stale_said = False
    _drop_reason: str | None = None
    # How long TWS had not answered when the watchdog dropped its socket (`_seconds`),
    # until a connect finds TWS answering or gone: a reconnect TWS does not answer is
    # said as TWS still hung (`_unanswered_connect`). And what the last handshake saw:
    # whether its socket connected (ib_async sent its greeting), and whether TWS sent
    # anything on it (`_handshake`).
    _hung_for: str | None = None
    _handshake_seen = (False, False)
    # The `ib` link as TWS last said it, kept while the watchdog has it "not known"
    # (`_ib_unanswered`): put back once TWS answers (`_ib_answers_again`), or said as
    # last heard once the socket is dropped (`_ib_unknown`).
    # (And whether a 2110 held it then.)
    _ib_before_hang: tuple[ConnectionState, str, bool] | None = None

    async def connect(self) -> None:
        """Connect, rebuild, go LIVE. Never raises because TWS is unreachable: the `api`
        link says why and a background task keeps trying."""
        self._closing = False
        self._inbox.start()
        self.start_health_loop()
        await self.set_link(
            "api", L.CONNECTING, f"connecting to {self.endpoint} as client id {self.client_id}"
        )
        if await self._connect_cycle():
            try:
                await self._after_connect(announce=False)
                return
            except Exception as exc:  # whatever breaks the rebuild, the desk keeps running
                await self._rebuild_failed(exc)
        self._start_reconnect()

    def _id_order(self, first: int | None = None) -> list[int]:
        """The client ids to try, as indexes: `first` (else where the session belongs,
        `_home_index`, else the configured id), then the others in configured order."""
        if first is None:
            first = self._home_index()
        first = 0 if first is None else first
        return [first, *(i for i in range(len(self.client_ids)) if i != first)]

    async def _connect_cycle(self, first: int | None = None) -> bool:
        """Connect with the first client id TWS takes (`_id_order`): the next is tried
        at once after a 326, none after another failure (TWS away: no id would do)."""
        order = self._id_order(first)
        for n, index in enumerate(order):
            following = order[n + 1] if n + 1 < len(order) else None
            if await self._connect_once(index, following):
                return True
            if not self._saw_326:
                return False
        return False

    async def _connect_once(self, index: int, following: int | None = None) -> bool:
        """One connect as `client_ids[index]`; `following`: the index tried next after
        a 326 (named in the reason)."""
        self._client_index = index
        client_id = self.client_id
        self._saw_326 = False
        self._tidy_marks = (0, 0)  # ib_async's trades and fills are a new session's
        # TWS's positions wait for this socket's executions (`_publish_due_position`)
        self._positions_read = False
        self._positions_held.clear()
        reason = ""
        # ib_async's start-up requests end empty on an error (a pacing error on its
        # executions replay must not fail the connect: the catch-up asks again); the
        # adapter's own requests raise, so pacing can be retried and "no such contract"
        # told apart from "no answer".
        self.ib.RaiseRequestErrors = False
        try:
            await self._handshake(client_id)
            self._ids_in_use.discard(client_id)
            self._hung_for = None
            return True
        except ConnectionRefusedError:
            self._hung_for = None  # nothing listens: not the hung TWS of before
            reason = (
                f"no TWS or IB Gateway listening at {self.endpoint} (connection refused); "
                "start it and enable the API (Configure > API > Settings)"
            )
        except TimeoutError:
            if self._saw_326:
                self._hung_for = None  # TWS answered
                self._ids_in_use.add(client_id)
                reason = f"client id {client_id} is already in use at TWS (326)"
                if following is not None:
                    reason += f"; trying client id {self.client_ids[following]}"
                elif len(self.client_ids) > 1:
                    ids = ", ".join(str(i) for i in self.client_ids)
                    reason += (
                        f"; so are all of {ids}: close the other connections (or restart "
                        "TWS) or list more ids in client_id_fallbacks"
                    )
                else:
                    reason += (
                        "; close the other connection (or restart TWS) or list more ids"
                        " in client_id_fallbacks"
                    )
            else:
                reason = self._unanswered_connect()
        except (OSError, ConnectionError) as exc:
            reason = f"cannot reach TWS at {self.endpoint}: {exc}"
        except Exception as exc:  # whatever ib_async raises, the desk keeps running
            log.exception("ib.connect_failed", extra={"broker": self.source})
            reason = f"connecting to TWS at {self.endpoint} failed: {exc}"
        finally:
            self.ib.RaiseRequestErrors = True
        self.count_error("connect")
        with contextlib.suppress(Exception):
            self.ib.disconnect()
        await self.set_link("api", L.DISCONNECTED, reason)
        await self._ib_unknown()  # (a move back's connect that failed: `_move_back`)
        return False

    def _unanswered_connect(self) -> str:
        """Why a connect that TWS did not complete in `connect_timeout_s` failed (not a
        326), by what its handshake saw (`_handshake_seen`). A socket that connected
        and heard nothing, or a reconnect after the watchdog dropped the socket of a
        TWS that had stopped answering (`_hung_for`), is a TWS that accepts
        connections and does not answer them: hung (or busy, or, at a first connect,
        waiting for someone to accept the connection in its window). Said as "did not
        complete the API handshake; check that the API is enabled and this host is a
        trusted IP", the health pane sent the trader to TWS's API settings while TWS
        was simply hung, the reconnect after the watchdog's drop included."""
        timeout = f"{self.cfg.connect_timeout_s:g}s"
        connected, heard = self._handshake_seen
        hung = self._hung_for
        if not connected or (hung is None and heard):
            # (No connection in time at all, or TWS answered only in part: as before.)
            return (
                f"TWS at {self.endpoint} did not complete the API handshake in {timeout}; "
                "check that the API is enabled and this host is a trusted IP"
            )
        answer = (
            f"does not answer it (nothing in {timeout})"
            if not heard
            else f"does not complete the API handshake in {timeout}"
        )
        said = f"TWS at {self.endpoint} accepts the connection but {answer}: "
        if hung is not None:
            return said + (
                f"still hung (the desk dropped its last socket after TWS had not answered "
                f"for {hung} s). Check TWS (a modal dialog, a frozen window, the "
                "machine's load) and restart TWS or IB Gateway if it stays so; the desk "
                "keeps trying and reconciles once TWS answers. Cancel what must go in TWS "
                "itself meanwhile"
            )
        return said + (
            "TWS is hung or busy, or waits for someone to accept this connection in its "
            "window (this host not among its Trusted IPs: Configure > API > Settings). "
            "Check TWS, and restart TWS or IB Gateway if it stays so; the desk keeps "
            "trying"
        )

    async def _handshake(self, client_id: int) -> None:
        """`connectAsync`, given up as soon as TWS answers 326 (client id in use): TWS
        closes the socket then, and ib_async would wait out `connect_timeout_s` before
        raising TimeoutError. The fallback id is tried at once and the health pane says
        why meanwhile, rather than "connecting" for the whole timeout. What it saw is
        kept (`_handshake_seen`): whether the socket connected, and whether TWS sent
        anything on it."""
        conn = self.ib.client.conn
        heard = False

        def on_data(data: bytes) -> None:
            nonlocal heard
            heard = heard or bool(data)

        conn.hasData += on_data
        try:
            await self._handshake_once(client_id)
        finally:
            conn.hasData -= on_data
            # (ib_async's connection counts what it sent from its socket's connect: its
            # greeting goes out as soon as the socket is up)
            self._handshake_seen = (conn.numBytesSent > 0, heard)

    async def _handshake_once(self, client_id: int) -> None:
        refused = asyncio.Event()
        self._id_refused = refused
        connecting = asyncio.ensure_future(
            self.ib.connectAsync(
                self.cfg.host,
                self.cfg.port,
                clientId=client_id,
                timeout=self.cfg.connect_timeout_s,
                account=self.account,
            )
        )
        waiting = asyncio.ensure_future(refused.wait())
        try:
            await asyncio.wait({connecting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            self._id_refused = None
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await connecting
        if connecting.cancelled():
            raise TimeoutError(f"client id {client_id} in use (326)")
        connecting.result()

    async def _after_connect(self, *, announce: bool) -> None:
        """The socket is up: rebuild orders and fills from TWS, then go LIVE."""
        self._rebuilding = True
        try:
            await self._rebuild(announce=announce)
        finally:
            self._rebuilding = False
            self.cancel_through_reconciling = frozenset()

    async def _rebuild(self, *, announce: bool) -> None:
        """`_after_connect`. RECONCILING until the account is checked and the journal
        read (before that the adapter knows no order of the desk, and a global cancel
        could reach another account's orders), then RECONCILING still, its detail
        saying that cancels go, while TWS is asked what it holds (`api` carries cancels
        then: `cancel_through_reconciling`; DEGRADED, an outage, was told the trader at
        every start): cancels and the kill switch go out at once (each to an order whose id on
        this socket is certain: `IBOrders._refuse_unlearned`), new orders and modifies
        wait for LIVE, saying so. Left RECONCILING for the whole rebuild, every cancel
        was refused ("send it again once ... is LIVE") and the kill switch held until
        TWS answered the rebuild's requests (up to `request_timeout_s` each)."""
        self._up = True
        self._link_turn += 1  # a catch-up of the last socket's 1102 is over
        self.market.new_socket()
        self._note_client_ids()
        again = self._connected_before
        await self.set_link(
            "api", L.RECONCILING, f"connected as client id {self.client_id}; rebuilding"
        )
        # A 2110 that no farm OK (nor 1101/1102) has ended still holds on the new socket
        # (`_server_link`): a TWS that reaches IB says its farms are OK as a client
        # starts the API (`_server_back`). Set LIVE here, the desk sent new orders to a
        # TWS that could not pass them on, and a 2110 said again was taken for the one
        # already said.
        if not await self._server_link(taking_over=True):
            await self.set_link("ib", L.LIVE, "")
        accounts = self.ib.managedAccounts()
        if accounts and self.account not in accounts:
            raise BrokerError(
                f"account {self.account} is not managed by this TWS login (it has "
                f"{', '.join(accounts)}); fix `account` in the config or log in to TWS "
                "with that account"
            )
        self.ib.reqMarketDataType(DATA_TYPES[self.cfg.market_data_type])
        await self._learn_from_journal()
        self.cancel_through_reconciling = frozenset({"api"})
        await self.set_link(
            "api", L.RECONCILING, f"connected as client id {self.client_id}; {REBUILDING}"
        )
        self._moved()  # a move back's cancels go now, on its socket (`_through_move`)
        configured = await self.instruments()
        await self._catch_up()
        if not self.market.contracts and configured:
            # The configured symbols are quoted from the start ("load and quote").
            for key in configured:
                self.market.subscribe(key, self._contracts[key])
            await self.set_link("market", L.LIVE, self._market_detail())
        elif self.market.contracts:
            self.market.resubscribe("the reconnect to TWS")
            await self.set_link("market", L.LIVE, self._market_detail())
        await self._publish_balances()
        held = self.ib.positions(self.account)
        await self._publish_connect_positions(held)
        # The day's executions TWS replayed, read anew: those of flat contracts too.
        self.ledger.follow(self.ib.wrapper.fills)
        self.ledger.fold_all(
            self._commission_in, {p.contract.conId: to_decimal(p.position) for p in held}
        )
        await self._inbox.join()
        self._connected_before = True
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(
                self._poll_other_clients(), name=f"ib-poll:{self.source}"
            )
        if len(self.client_ids) > 1 and (self._homing is None or self._homing.done()):
            self._homing = asyncio.create_task(self._go_home(), name=f"ib-home:{self.source}")
        if self.cfg.watchdog_s and (self._watchdog is None or self._watchdog.done()):
            self._watchdog = asyncio.create_task(self._watch_tws(), name=f"ib-watch:{self.source}")
        self._unanswered = False
        self._market_stale_said = False  # (the market link was set above, for this socket)
        self._drop_reason = None
        await self.set_link("api", L.LIVE, self._api_detail())
        self._moved()  # a move back's cancels go now (before the reconcile, run in it)
        if again:
            self.health_state.reconnects += 1
        if announce:
            # Connected in the background (after a drop, or after a start without
            # TWS): the session reconciles now.
            await self.announce_reconnect()

    def _account_kind(self) -> str:
        return "paper account" if self.account.startswith("D") else "account"

    def _market_detail(self) -> str:
        kinds = {self.market.data_type(k) for k in self.market.contracts}
        detail = "data: " + ", ".join(sorted(kinds)) if kinds else ""
        if self.market.partial:
            detail += (
                f"{'; ' if detail else ''}part of the data not subscribed (10090): "
                f"{', '.join(sorted(self.market.partial))}"
            )
        if self.market.competing:
            said = next(iter(self.market.competing.values()))
            detail += f"{'; ' if detail else ''}" + codes.competing_session(
                sorted(self.market.competing), said
            )
        if self.market.bad:
            bad = "; ".join(f"{key}: {said}" for key, said in sorted(self.market.bad.items()))
            detail += (
                f"{'; ' if detail else ''}TWS sends prices that are no prices ({bad}): "
                "left out of quotes and marks"
            )
        waiting: dict[str, list[str]] = {}
        for key, why in sorted(self.market.awaiting.items()):
            waiting.setdefault(why, []).append(key)
        for why, keys in waiting.items():
            detail += (
                f"{'; ' if detail else ''}awaiting a first quote since {why}: "
                f"{', '.join(keys)} (nothing quoted before it is used)"
            )
        return detail

    async def _rebuild_failed(self, exc: Exception) -> None:
        if not isinstance(exc, BrokerError):
            log.exception("ib.rebuild_failed", extra={"broker": self.source})
        await self._give_up_socket(f"connected but could not rebuild: {exc}; reconnecting")

    async def _give_up_socket(self, reason: str) -> None:
        """Close the socket of a connect whose rebuild failed; the reconnect opens a new
        one. A close that fails (`_close_socket`) is said on the api link, counted and
        logged, and the socket closed at once. Before, it was suppressed: the socket
        stayed open (TWS kept its client id) and every reconnect failed on it ("cannot
        reach TWS at ...: Transport endpoint is not connected", TWS being there), for
        good, nothing counted."""
        self._up = False
        failed = self._close_socket()
        if failed is not None:
            reason += f" (closing its socket failed ({failed}): it was closed at once instead)"
        await self.set_link("api", L.DISCONNECTED, reason)
        await self._ib_unknown()  # (the rebuild set it as TWS said it, then failed)

    def _start_reconnect(self) -> None:
        if self._closing or (self._reconnector is not None and not self._reconnector.done()):
            return
        self._reconnector = asyncio.create_task(
            self._reconnect(), name=f"ib-reconnect:{self.source}"
        )

    async def _reconnect(self) -> None:
        delay = self.cfg.reconnect_delay_s
        while not self._closing:
            link = self.health_state.links.get("api")
            detail = link.detail if link is not None else ""
            await self.set_link(
                "api", L.DISCONNECTED, f"{detail.split('; retrying')[0]}; retrying in {delay:g}s"
            )
            await asyncio.sleep(delay)
            if self._stopping():
                return
            # Every round from the id the desk belongs on (`_id_order`): a 326 on it
            # a round ago was often its own dropped socket, which TWS lets go later.
            if await self._connect_cycle():
                try:
                    await self._after_connect(announce=True)
                    return
                except Exception as exc:
                    await self._rebuild_failed(exc)
            delay = min(delay * 2, self.cfg.reconnect_max_delay_s)

    async def _lost(self) -> None:
        self.count_error("disconnect")
        reason, self._drop_reason = self._drop_reason, None
        self._unanswered = False  # the socket is gone: a new one is asked afresh
        self._market_stale_said = False
        # A catch-up after 1101/1102 still running ends here, and never sets the `ib`
        # link LIVE over what follows (`_restored`: its turn is over).
        self._link_turn += 1
        await self.set_link(
            "api", L.DISCONNECTED, reason or f"socket to TWS at {self.endpoint} lost"
        )
        await self._ib_unknown()
        if self.market.contracts:
            await self.set_link("market", L.DISCONNECTED, "no quotes while TWS is unreachable")
        self._start_reconnect()

    async def _ib_unknown(self) -> None:
        """The socket to TWS is down: TWS's own link to IB (the `ib` link, from its
        1100/1101/1102 and 2110) cannot be known, so it is DISCONNECTED, saying so and
        how it was last heard (`IB_UNKNOWN`; Balances says such a broker's figures are
        "as last heard" the same way). It is heard again from TWS once the desk has
        reconnected: the rebuild sets it as TWS then says it (`_rebuild`, `_server_link`),
        and TWS's own 1100/1101/1102 on that socket move it. Before, it read LIVE
        under "api DISCONNECTED no TWS or IB Gateway listening" for as long as TWS was
        away (killed, or hung and its socket dropped). A link never heard (no connect
        yet) is left out, as before."""
        link = self.health_state.links.get("ib")
        before, self._ib_before_hang = self._ib_before_hang, None
        if link is None or self._closing or link.detail.startswith(IB_UNKNOWN):
            return
        state, detail = link.state, link.detail
        if before is not None and detail.startswith(IB_UNANSWERED):
            state, detail, _ = before  # (as TWS said it, before it stopped answering)
        heard = _as_heard(state, detail)
        await self.set_link(
            "ib",
            L.DISCONNECTED,
            f"{IB_UNKNOWN} (as last heard: {heard}); TWS says it again once the desk reconnects",
        )

    async def _ib_unanswered(self) -> None:
        """TWS does not answer the watchdog, its socket open (hung: SIGSTOP, overloaded,
        a wedged reader): its own link to IB (the `ib` link) cannot be known either, so
        it is DEGRADED, saying so and how it was last heard (`IB_UNANSWERED`), as the
        api and market links are beside it (`_say_unanswered`). DEGRADED, not
        DISCONNECTED: cancels still go to a TWS that stopped answering
        (`cancel_through_degraded`), which takes them once it wakes. What TWS said last
        is kept (`_ib_before_hang`) and put back once TWS answers
        (`_ib_answers_again`). Before, it read LIVE under "api DEGRADED TWS has not
        answered for 40 s" for as long as TWS hung, as if TWS had said so."""
        link = self.health_state.links.get("ib")
        if link is None or self._closing or link.detail.startswith((IB_UNANSWERED, IB_UNKNOWN)):
            return
        held = link.state is L.DEGRADED and link.detail == self._server_link_said
        self._ib_before_hang = (link.state, link.detail, held)
        heard = _as_heard(link.state, link.detail)
        await self.set_link(
            "ib",
            L.DEGRADED,
            f"{IB_UNANSWERED} (as last heard: {heard}); TWS says it again once it answers",
        )

    async def _ib_answers_again(self) -> None:
        """TWS answers the watchdog again: the `ib` link `_ib_unanswered` set goes back
        to what TWS last said of it, unless TWS has said something since (its
        1100/1101/1102, read before its answer, set the link). Where it was LIVE, or
        held by a 2110, TWS's 2110 and farm notices since say which (`_server_link`:
        it leaves a link another cause holds down alone, so it is asked here); a 1100,
        or the catch-up after 1101/1102, is put back as it was, for its own end to
        move it."""
        before, self._ib_before_hang = self._ib_before_hang, None
        link = self.health_state.links.get("ib")
        if before is None or link is None or not link.detail.startswith(IB_UNANSWERED):
            return
        state, detail, held_by_2110 = before
        if state is L.LIVE or held_by_2110:
            if await self._server_link(taking_over=True):
                return  # a 2110 holds it
            state, detail = L.LIVE, ""
        await self.set_link("ib", state, detail)

    async def _connectivity(self, code: int, message: str) -> None:
        self._link_turn += 1
        text = codes.describe(code, message)
        if code == codes.CONNECTIVITY_LOST:
            await self.set_link("ib", L.DEGRADED, text)
            if self.market.contracts:
                await self.set_link("market", L.DEGRADED, "no quotes while TWS is cut off (1100)")
            return
        # (The subscriptions were asked again as TWS's message came: `_tickers_after`.)
        # DEGRADED, not RECONCILING, while the catch-up runs: the socket is up and TWS
        # takes cancels, so cancels and the kill switch go out at once; new orders wait
        # for the catch-up (`order_path_down`). RECONCILING refused every cancel until
        # the catch-up was answered (up to `request_timeout_s` from a busy TWS).
        await self.set_link("ib", L.DEGRADED, f"{text}; {CATCHING_UP}")
        self._spawn(self._restored(self._link_turn), "restored")

    async def _restored(self, turn: int) -> None:
        """Catch up after 1101/1102, then the `ib` link is LIVE; DEGRADED meanwhile, so
        cancels go and new orders wait (left RECONCILING, even the kill switch was
        refused until the catch-up was answered). A catch-up TWS does not answer (busy
        right after its own reconnection) is asked again, doubling the wait from
        `reconnect_delay_s` to `reconnect_max_delay_s`. A later 1100/1101/1102 (`turn`
        moved on) or a lost socket ends these tries: their own handling follows."""
        delay = self.cfg.reconnect_delay_s
        while True:
            try:
                await self._catch_up()
                break
            except Exception as exc:
                if self._stopping() or not self._up or turn != self._link_turn:
                    return
                if not isinstance(exc, BrokerError):
                    log.exception("ib.catch_up_failed", extra={"broker": self.source})
                self.count_error("catch_up")
                await self.set_link(
                    "ib",
                    L.DEGRADED,
                    f"TWS is back on IB, but catching up failed ({exc}); asking again in "
                    f"{delay:g}s. Cancels go; new orders wait until it is LIVE",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_delay_s)
            if self._stopping() or not self._up or turn != self._link_turn:
                return
        await self._inbox.join()
        if turn != self._link_turn:
            return
        if not await self._server_link(taking_over=True):  # (a 2110 since the 1101/1102)
            await self.set_link("ib", L.LIVE, "")
        if self.market.contracts:
            await self.set_link("market", L.LIVE, self._market_detail())
        self.health_state.reconnects += 1
        await self.announce_reconnect()

    async def _catch_up(self) -> set[str]:
        """Fills and order states TWS has that the journal lacks (open and completed
        orders, the day's executions of every client id), each journaled once. Returns
        the orders of the desk TWS listed (open, or completed today).

        The orders' terms go into the journal before any fill: an order changed while
        the desk did not hear it (in TWS's window, or the desk's own modify whose
        answer a drop lost) and filled at its new size had its fill refused as an
        overfill of the old one (a restart showed FILLED 0/3; an order 3 -> 10 with 5
        filled read 0/10). So the open orders are asked first (their openOrders are
        queued as they come: `_hook`'s tap), then the completed orders (whose terms
        are queued here: ib_async raises nothing for them), then the executions; the
        statuses last."""
        trades = await self._request("open orders", self.ib.reqAllOpenOrdersAsync)
        done = await self._request(
            "completed orders", lambda: self.ib.reqCompletedOrdersAsync(False)
        )
        for trade in done:
            order = trade.order
            if not 0 < order.totalQuantity < UNSET_DOUBLE:
                continue  # no size said: nothing to compare (a size of 0 is none)
            if self._coid(order.permId, order.clientId, order.orderId, order.orderRef):
                self._queue_terms(trade)
        fills = await self._request(
            "executions",
            lambda: self.ib.reqExecutionsAsync(ExecutionFilter(acctCode=self.account)),
        )
        for ib_fill in latest_executions(fills):  # an execution at its latest correction
            self._enqueue(functools.partial(self._publish_exec, ib_fill, live=False))
        seen: set[str] = set()
        for trade in [*trades, *done]:
            order = trade.order
            coid = self._coid(order.permId, order.clientId, order.orderId, order.orderRef)
            if coid is None or coid in seen:
                continue
            seen.add(coid)
            ids = self.ids.get(coid)
            if ids is not None and ids.client_id < 0 and order.orderId > 0:
                self.ids.bind_order(coid, order.clientId, order.orderId)
            self._on_status_of(trade)
        # Commission reports of fills journaled without their fee that came before the
        # journal was read (a restart): those fees now.
        self._fees_due()
        self._tidy_soon()  # (ib_async took TWS's completed orders in again)
        await self._inbox.join()
        return seen

    async def _poll_other_clients(self) -> None:
        """TWS reports an order's fills and statuses live only to the client id that
        placed it (and to the master client): orders of ours placed under another
        client id (before a restart) and orders of other client ids adopted on
        reconcile are followed by asking every `other_clients_poll_s`, only while any
        of them works."""
        while not self._stopping():
            await asyncio.sleep(self.cfg.other_clients_poll_s)
            if not self._up:
                continue
            others = [
                ids for ids in self.ids.working() if ids.client_id != self.client_id and ids.perm_id
            ]
            if others:
                try:
                    await self._catch_up()
                except BrokerError as exc:
                    log.warning("ib.poll_failed", extra={"broker": self.source, "error": str(exc)})

    def _client_ids_now(self) -> ClientIds:
        """The client ids the api link is about (`ClientIds`), as the session stands."""
        current = self.client_id
        home_index = self._home_index()
        home = self.client_ids[home_index] if home_index is not None else None
        return ClientIds(
            current=current,
            configured=self.client_ids[0],
            in_use=frozenset(self._ids_in_use - {current}),
            orders=frozenset(self._ours_under()),
            home=home if home != current else None,
        )

    def _note_client_ids(self) -> ClientIds:
        """Put the client ids in the health metrics (`events/client_ids.py`), those of
        before out."""
        ids = self._client_ids_now()
        extra = self.health_state.extra
        for key in [k for k in extra if k in client_ids.KEYS or k.startswith(client_ids.PREFIXES)]:
            del extra[key]
        extra.update(ids.metrics())
        return ids

    def _api_detail(self) -> str:
        """The LIVE api link's detail; the client ids it names are health metrics too
        (`_note_client_ids`), which the health pane reads."""
        ids = self._note_client_ids()
        head = f"{self.endpoint} client id {ids.current} ({self._account_kind()})"
        return "; ".join([head, *ids.about()])

    async def _go_home(self) -> None:
        """While connected on another id than the one the desk belongs on
        (`_move_to`), ask TWS whether that one is free, from `reconnect_delay_s`
        doubling to `reconnect_max_delay_s` between asks, and move there once it is.
        The api link's detail says meanwhile what is out of reach and why."""
        delay = self.cfg.reconnect_delay_s
        while not self._stopping():
            await asyncio.sleep(delay)
            try:
                await self._refresh_api_detail()
                target = self._move_to()
                if target is None:
                    delay = self.cfg.reconnect_delay_s
                    continue
                free = await self._id_free(self.client_ids[target])
                if not free or self._move_to() != target:
                    delay = min(delay * 2, self.cfg.reconnect_max_delay_s)
                    continue
                await self._move_back(target)  # nothing awaited since `_move_to`
                delay = self.cfg.reconnect_delay_s
            except Exception:  # asked again next round; the socket's fate is `_lost`'s
                log.exception("ib.go_home_failed", extra={"broker": self.source})

    async def _refresh_api_detail(self) -> None:
        link = self.health_state.links.get("api")
        if not self._up or self._unanswered or link is None or link.state is not L.LIVE:
            return
        detail = self._api_detail()
        if detail != link.detail:
            await self.set_link("api", L.LIVE, detail)

    def _move_to(self) -> int | None:
        """The index of the client id to move to now, if any: connected and LIVE, no
        place, modify, cancel or listing of open orders under way, no order of the desk
        under the id it is on (it would be out of reach), and the desk belongs on
        another id."""
        link = self.health_state.links.get("api")
        if not self._up or self._at_work or link is None or link.state is not L.LIVE:
            return None
        if self._reconnector is not None and not self._reconnector.done():
            return None
        if self.client_id in self._ours_under():
            return None
        home = self._home_index()
        if home is None or self.client_ids[home] == self.client_id:
            return None
        return home

    async def _id_free(self, client_id: int) -> bool:
        """Whether TWS takes `client_id` now: a second connection (ib_async's bare
        handshake, none of the start-up requests) closed at once. False on 326, or
        when TWS cannot be asked."""
        probe = IB()
        refused = asyncio.Event()

        def on_error(req_id: int, code: int, message: str, contract: object) -> None:
            if code == codes.CLIENT_ID_IN_USE:
                refused.set()

        probe.errorEvent += on_error
        connecting = asyncio.ensure_future(
            probe.client.connectAsync(  # type: ignore[no-untyped-call]
                self.cfg.host, self.cfg.port, client_id, self.cfg.connect_timeout_s
            )
        )
        waiting = asyncio.ensure_future(refused.wait())
        try:
            await asyncio.wait({connecting, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await connecting
            with contextlib.suppress(Exception):
                probe.disconnect()
        if refused.is_set():
            self._ids_in_use.add(client_id)
            return False
        if connecting.cancelled() or connecting.exception() is not None:
            return False
        self._ids_in_use.discard(client_id)
        return True

    async def _move_back(self, index: int) -> None:
        """Leave the socket of this client id for `client_ids[index]`, free at TWS:
        new orders are refused while it connects (the api link says why), then the
        session rebuilds and reconciles as after any reconnect. Cancels, cancel all
        (the kill switch) and listings of open orders that come meanwhile wait for the
        move to end (`_through_move`: bounded, and why waiting rather than stepping
        aside), then go out on its socket."""
        was, target = self.client_id, self.client_ids[index]
        log.info("ib.client_id_back", extra={"broker": self.source, "from": was, "to": target})
        self._up = False  # before anything is awaited: `_move_to` held until here
        self._move = asyncio.get_running_loop().create_future()
        try:
            await self.set_link(
                "api",
                L.CONNECTING,
                f"client id {target} is free at TWS again: moving from client id {was} to "
                "it (IB lets only the placing client change an order)",
            )
            with contextlib.suppress(Exception):
                self.ib.disconnect()
            if await self._connect_cycle(first=index):
                try:
                    await self._after_connect(announce=True)
                    return
                except Exception as exc:
                    await self._rebuild_failed(exc)
            self._start_reconnect()
        finally:
            self._moved()  # (LIVE released it already; failed or closed: now)

    async def _watch_tws(self) -> None:
        """Ask TWS its time every `watchdog_s`. A TWS that does not answer within
        `answer_timeout_s` (hung, or too busy to answer) keeps its socket open, so
        nothing else tells it: the api link goes DEGRADED and orders are refused (one
        sent now would be acted on whenever TWS wakes, at the prices of then) until it
        answers again. While it does not, it is asked again as soon as a question goes
        unanswered (a round of `answer_timeout_s`), the links saying how long; after
        `unanswered_reconnect_s` the socket is dropped and the desk reconnects
        (`_reconnect_unanswered`)."""
        again = False
        while not self._stopping():
            if not again:
                await asyncio.sleep(self.cfg.watchdog_s)
            again = False
            try:
                again = await self._ask_if_tws_answers()
            except Exception:  # a failed health publish: asked again next round
                log.exception("ib.watchdog_failed", extra={"broker": self.source})

    async def _ask_if_tws_answers(self) -> bool:
        """One round of `_watch_tws`; True when TWS left the question unanswered and
        the socket is kept: the next is asked at once (its wait is the round).

        Without an answer the api link is DEGRADED "TWS has not answered for N s",
        N growing each round from when the first unanswered question was asked, and
        the market link is DEGRADED beside it (a hung TWS sends no quotes: those shown
        are stale; it read LIVE with quotes minutes old). At `unanswered_reconnect_s`
        the socket is dropped and the existing reconnect path runs (rebuild,
        reconcile, quotes asked again). Before, the detail read "5 s" for as long as
        TWS was hung (3 minutes in a drill: garbage on the socket wedged ib_async's
        reader) and the desk never reconnected. A TWS that answers before the bound
        (frozen 20 s, then back) is LIVE again on the same socket."""
        link = self.health_state.links.get("api")
        if (
            not self._up
            or self._rebuilding
            or link is None
            or link.state not in (L.LIVE, L.DEGRADED)
        ):
            return False  # connecting, rebuilding or lost: the session says so itself
        loop = asyncio.get_running_loop()
        asked = loop.time()
        wait = self.cfg.answer_timeout_s
        bound = self.cfg.unanswered_reconnect_s
        if self._unanswered and bound:
            left = self._unanswered_since + bound - asked
            if left <= 0:
                await self._reconnect_unanswered(asked - self._unanswered_since)
                return False
            wait = min(wait, left)  # the bound is kept, not overrun by a round
        try:
            await self.ask_time(wait)
        except TimeoutError:
            # Health's `lat`: the wait of a question TWS left unanswered, as Binance's
            # is its last REST call's (an error's too).
            self.health_state.rtt_ms = (loop.time() - asked) * 1000
            link = self.health_state.links.get("api")  # as it is now
            if not self._up or self._rebuilding or link is None:
                return False
            if not self._unanswered:
                if link.state is not L.LIVE:
                    return False
                self._unanswered = True
                self._unanswered_since = asked
                self.count_error("unanswered")
                log.warning("ib.tws_unanswered", extra={"broker": self.source})
                # (the wait it was given: a busy loop's lag is not TWS's)
                waited = self.cfg.answer_timeout_s
            elif link.state is not L.DEGRADED:
                return False
            else:
                waited = loop.time() - self._unanswered_since
            if bound and waited >= bound:
                await self._reconnect_unanswered(waited)
                return False
            await self._say_unanswered(waited)
            return True
        except Exception as exc:  # the socket broke: `_lost` handles it
            log.info("ib.watchdog_ask_failed", extra={"broker": self.source, "error": str(exc)})
            return False
        # Health's `lat`: TWS's answer to its time, once a round (it read `lat -` for
        # as long as the desk ran).
        self.health_state.rtt_ms = (loop.time() - asked) * 1000
        if self._unanswered:
            self._unanswered = False
            log.info("ib.tws_answers_again", extra={"broker": self.source})
            link = self.health_state.links.get("api")
            if link is not None and link.state is L.DEGRADED:
                await self.set_link("api", L.LIVE, f"{self._api_detail()}; answers again")
            await self._ib_answers_again()
            await self._market_fresh_again()
        return False

    async def _say_unanswered(self, waited: float) -> None:
        """The api link (and the market link, its quotes stale) DEGRADED, saying how
        long TWS has not answered."""
        said = _seconds(waited)
        reason = (
            f"TWS has not answered for {said} s (asked its time): hung or overloaded; "
            "orders are refused until it answers"
        )
        bound = self.cfg.unanswered_reconnect_s
        if bound:
            reason += f"; reconnecting at {bound:g} s without an answer"
        await self.set_link("api", L.DEGRADED, reason)
        await self._ib_unanswered()
        market = self.health_state.links.get("market")
        if not self.market.contracts or market is None:
            return
        # (DEGRADED for another cause, 1100 or prices that are no prices: left to say it.)
        if market.state is L.LIVE or (self._market_stale_said and market.state is L.DEGRADED):
            self._market_stale_said = True
            await self.set_link("market", L.DEGRADED, _stale_quotes(said))

    def _market_down(self) -> tuple[ConnectionState, str] | None:
        """Why no fresh quotes come now whatever the subscriptions, as the market link
        says it (None: nothing of the session's holds them): TWS unreachable (the
        socket lost or not up yet), not answering the watchdog, or cut off from IB
        (1100: the `ib` link is not LIVE until its catch-up is over)."""
        if not self._up:
            return L.DISCONNECTED, "no quotes while TWS is unreachable"
        if self._unanswered:
            waited = asyncio.get_running_loop().time() - self._unanswered_since
            return L.DEGRADED, _stale_quotes(_seconds(waited))
        link = self.health_state.links.get("ib")
        if link is not None and link.state is not L.LIVE and link.detail != self._server_link_said:
            # (DEGRADED for 2110 alone, TWS's orders' path: the farms say the quotes')
            return L.DEGRADED, "no quotes while TWS is cut off (1100)"
        return None

    async def _market_fresh_again(self) -> None:
        """TWS answers again: the market link the watchdog set DEGRADED is LIVE again
        (DEGRADED still for prices that are no prices), unless another cause took it
        over meanwhile (1100, a lost socket: it says when it is over)."""
        if not self._market_stale_said:
            return
        self._market_stale_said = False
        market = self.health_state.links.get("market")
        if market is None or market.state is not L.DEGRADED:
            return
        if not market.detail.startswith("TWS has not answered for "):
            return
        self._bad_prices_said = self.market.degraded
        state = L.DEGRADED if self.market.degraded else L.LIVE
        await self.set_link("market", state, self._market_detail())

    async def _reconnect_unanswered(self, waited: float) -> None:
        """TWS has not answered for `unanswered_reconnect_s`: taken for hung for good
        (or a reader wedged on bytes that are no frame), the socket is dropped and the
        desk reconnects through the reconnect path (`_lost`: the api link says why)."""
        reason = f"TWS has not answered for {_seconds(waited)} s: reconnecting"
        log.warning(
            "ib.tws_unanswered_reconnect",
            extra={"broker": self.source, "unanswered_s": round(waited, 1)},
        )
        self.count_error("unanswered_reconnect")
        self._drop_reason = reason
        self._hung_for = _seconds(waited)
        failed = self._drop_socket()
        dropped = (
            "the socket is dropped and opened again"
            if failed is None
            else f"dropping the socket failed ({failed}); it was closed at once instead "
            "and is opened again"
        )
        try:
            await self.publish(
                LogEvent.create(
                    self.source,
                    Log(
                        level=LogLevel.WARNING if failed is None else LogLevel.ERROR,
                        message=(
                            f"{self.source}: {reason} ({dropped}; orders are reconciled "
                            "and quotes asked again once it is back)"
                        ),
                    ),
                    ts=self.clock(),
                )
            )
        except Exception:  # the reconnect goes on; the health pane says it
            log.exception("ib.log_publish_failed", extra={"broker": self.source})

    def _drop_socket(self) -> str | None:
        """Drop the socket to TWS for the reconnect path: ib_async's disconnect, whose
        disconnectedEvent runs `_lost`, then `_reconnect`. None when it did; else what
        failed. A disconnect that raises (the socket's shutdown refused by the
        system) leaves ib_async half torn down, with no disconnectedEvent: the socket
        is then closed at once (its loss reaches ib_async as a dropped socket's does)
        and the loss is driven here, so the desk reconnects all the same. Before, the
        failure was suppressed: no `_lost`, no reconnect, while the api link said it
        was reconnecting."""
        failed = self._close_socket()  # disconnectedEvent: `_lost`, then `_reconnect`
        if self._up and not self._closing:
            # No disconnectedEvent came (the disconnect raised before it): lost here.
            if failed is None:
                failed = "ib_async reported no disconnect"
                self.count_error("disconnect_failed")
                log.error("ib.disconnect_unreported", extra={"broker": self.source})
            self._on_disconnected()
        return failed

    def _close_socket(self) -> str | None:
        """ib_async's disconnect; None when it went through, else what failed. A
        disconnect that raises (the socket's shutdown refused by the system: ENOTCONN
        after the peer reset it) leaves ib_async half torn down, its socket open and no
        disconnectedEvent: counted (`disconnect_failed`), logged, and the socket closed
        at once (its loss reaches ib_async as a dropped socket's does)."""
        try:
            self.ib.disconnect()
            return None
        except Exception as exc:
            failed = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            self.count_error("disconnect_failed")
            log.exception("ib.disconnect_failed", extra={"broker": self.source})
            transport = getattr(self.ib.client.conn, "transport", None)
            if transport is not None:
                try:
                    transport.abort()
                except Exception:
                    log.exception("ib.socket_abort_failed", extra={"broker": self.source})
            return failed

    async def close(self) -> None:
        self._closing = True
        for task in (self._reconnector, self._poller, self._watchdog, self._homing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task  # one that failed was logged; closing goes on
        self._up = False
        with contextlib.suppress(Exception):
            self.ib.disconnect()
        await self.stop_health_loop()
        await self._inbox.stop()
        for name in list(self.health_state.links):
            await self.set_link(name, L.DISCONNECTED, "closed")
