"""What a broker can do, so the ticket offers only that and nothing else is sent.

Each adapter declares its `Capabilities`; validation refuses an order type, time in
force or flag the venue does not take before anything is journaled or sent, with a
message that names the field and the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .enums import OrderType, TimeInForce
from .errors import ValidationIssue


class ModifyStyle(StrEnum):
    NATIVE = "NATIVE"  # the venue amends the working order (IB, paper)
    CANCEL_REPLACE = "CANCEL_REPLACE"  # cancel and a new order with a new venue id (Binance)
    NONE = "NONE"


class MarketDataKind(StrEnum):
    QUOTE = "QUOTE"  # best bid/ask
    BOOK = "BOOK"  # levels to a depth, with the venue's update id
    TRADE = "TRADE"  # the public tape


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    order_types: frozenset[OrderType] = frozenset(OrderType)
    tifs: frozenset[TimeInForce] = frozenset(TimeInForce)
    # Time in force a MARKET order may carry at this venue.
    market_tifs: frozenset[TimeInForce] = frozenset(
        {TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY}
    )
    # Time in force a STOP or TAKE_PROFIT (a market order once triggered) may carry;
    # None: the same as other orders (`tifs`). Binance sends these without one: they
    # wait until triggered (GTC), then work as a MARKET.
    trigger_market_tifs: frozenset[TimeInForce] | None = None
    modify: ModifyStyle = ModifyStyle.NATIVE
    post_only: bool = False
    quote_quantity_market: bool = False
    cancel_all_native: bool = False
    # The venue keeps a working reduce-only order from adding to the position (cuts or
    # cancels it when the position shrinks under it); else the engine cancels one that
    # would take the position through zero (`TradingEngine.trim_reduce_only`).
    reduce_only_native: bool = False
    # A spot account holds assets, not signed positions: it cannot sell what it lacks.
    short_selling: bool = True
    # What a short sale takes of the quote currency's available balance, as a share of
    # the notional it sells short (its fee on top), at the price it fills at: the paper
    # venue holds back 1 (its proceeds stay held and a margin of the same cost) and
    # refuses a short sell beyond it, so the ticket refuses it first. None: the venue
    # works a short's margin out itself (TWS), and its refusal is the check.
    short_margin: Decimal | None = None
    # A fee charged in an asset (a buy's fee in the base it receives, or in BNB) comes
    # out of the position holding that asset, as a spot account's balances pay it
    # (`asset_fees_in_position`). None: as an account that cannot sell short does; the
    # paper venue says True whatever its `checks.short_selling` (`fees.currency: base`:
    # the engine counted 2.5 ETH where the venue held 2.4975, and went DEGRADED).
    asset_fees_from_position: bool | None = None
    # The venue refuses a stop its market has already reached, judged on its last trade
    # (Binance spot: -2010 "Order would trigger immediately."), rather than trigger it at
    # once as the paper venue and TWS do: the ticket refuses it (`ui.orders.stop_through`).
    stop_through_refused: bool = False
    # Where a change places the order anew (`modify_places_anew`), a change of the
    # quantity alone that lowers it is amended in place all the same: the order keeps
    # its venue id and its place in the queue (Binance's order amend keepPriority, on a
    # symbol whose exchangeInfo says `amendAllowed`: `amend_quantity_down_on`; else its
    # adapter cancel-replaces).
    amend_quantity_down: bool = False
    # Where the venue says so per instrument (Binance's exchangeInfo `amendAllowed`,
    # read by its adapter as it lists them): the instruments, by key, that amend. None:
    # every one does. Elsewhere a change of the quantity alone is placed anew too, so
    # the modify dialog says the amend of an instrument only (`amends_quantity_down`).
    amend_quantity_down_on: frozenset[str] | None = None
    market_data: frozenset[MarketDataKind] = frozenset({MarketDataKind.QUOTE})

    @property
    def asset_fees_in_position(self) -> bool:
        """Whether a fee paid in an asset comes out of that asset's position here."""
        if self.asset_fees_from_position is not None:
            return self.asset_fees_from_position
        return not self.short_selling

    @property
    def modify_places_anew(self) -> bool:
        """Whether a change re-places the whole order (a cancel-replace: Binance), its
        stop judged as a new order's: a triggered stop's replacement is a new stop that
        waits for its trigger again, and one the market is through is refused after the
        old order was cancelled (`stop_through_refused`: nothing is working then). The
        modify dialog refuses a change of a stop the market is through (a triggered one
        too) before anything is sent (`ui.orders.change_problems`), and says what a
        change of a triggered stop does; IB and the paper venue amend in place, and so
        does Binance a smaller quantity alone (`modify_in_place`)."""
        return self.modify is ModifyStyle.CANCEL_REPLACE

    def amends_quantity_down(self, instrument: str | None) -> bool:
        """Whether a smaller quantity alone is amended in place on `instrument` (its
        key; None: not known, so not said): `amend_quantity_down`, on the instruments
        of `amend_quantity_down_on` where the venue names them."""
        if not self.amend_quantity_down:
            return False
        on = self.amend_quantity_down_on
        return on is None or (instrument is not None and instrument in on)

    def modify_in_place(
        self, touched: Iterable[str], *, smaller: bool, instrument: str | None = None
    ) -> bool:
        """Whether a change of the fields `touched` (`smaller`: its quantity below the
        order's) of an order on `instrument` (its key) amends the working order in
        place, its stop not judged again: every change where changes are not placed
        anew; where they are, a smaller quantity alone where the venue amends that
        (`amends_quantity_down`)."""
        if not self.modify_places_anew:
            return True
        return self.amends_quantity_down(instrument) and smaller and set(touched) == {"quantity"}

    @property
    def stops(self) -> bool:
        return any(t.has_stop_price for t in self.order_types)

    def tifs_for(self, order_type: OrderType) -> list[TimeInForce]:
        """Time in force choices for `order_type`, in a fixed order."""
        if order_type is OrderType.MARKET:
            allowed = self.market_tifs
        elif order_type.market_on_trigger and self.trigger_market_tifs is not None:
            allowed = self.trigger_market_tifs
        else:
            allowed = self.tifs
        return [t for t in TimeInForce if t in allowed]

    def issues(
        self,
        venue: str,
        order_type: OrderType,
        tif: TimeInForce,
        *,
        post_only: bool = False,
        quote_quantity: bool = False,
    ) -> list[ValidationIssue]:
        """Every request field this venue cannot take (empty when it can)."""
        found: list[ValidationIssue] = []
        if order_type not in self.order_types:
            offered = ", ".join(t for t in OrderType if t in self.order_types)
            found.append(
                ValidationIssue(
                    "order_type",
                    "supported",
                    f"{venue} does not take {order_type} orders (it takes {offered})",
                )
            )
        elif tif not in self.tifs_for(order_type):
            offered = ", ".join(self.tifs_for(order_type)) or "none"
            found.append(
                ValidationIssue(
                    "tif",
                    "supported",
                    f"{venue} does not take {tif} on {order_type} orders (it takes {offered})",
                )
            )
        if quote_quantity and not self.quote_quantity_market:
            found.append(
                ValidationIssue(
                    "quote_quantity",
                    "supported",
                    f"{venue} does not take MARKET orders for an amount in the quote "
                    "currency: give a quantity",
                )
            )
        if post_only and not self.post_only:
            found.append(
                ValidationIssue("post_only", "supported", f"{venue} has no post-only orders")
            )
        if post_only and order_type is not OrderType.LIMIT:
            found.append(
                ValidationIssue("post_only", "limit_only", "post-only is for LIMIT orders")
            )
        elif post_only and tif in (TimeInForce.IOC, TimeInForce.FOK):
            # Binance's post-only (LIMIT_MAKER) takes no time in force and rests: an IOC
            # ticket went out as an order working at the venue until cancelled.
            found.append(
                ValidationIssue(
                    "post_only",
                    "resting_only",
                    f"post-only rests on the book: not with {tif}, which never rests "
                    "(GTC or DAY, or no post-only)",
                )
            )
        return found
