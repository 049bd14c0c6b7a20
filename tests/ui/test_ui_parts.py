"""Themes, the user state file, the key map, the feed model and the order checks."""

from __future__ import annotations

import re
from collections import deque
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.color import Color, ColorSystem

from silvertine_tui.bus import BusEntry
from silvertine_tui.domain import ConnectionState, Fill, Instrument, InstrumentKind, Quote
from silvertine_tui.events import (
    FillEvent,
    Health,
    HealthEvent,
    Log,
    LogEvent,
    LogLevel,
    QuoteEvent,
)
from silvertine_tui.ui.fees import FeeRate, FeeRates
from silvertine_tui.ui.format import NotANumber, age, fit, num, parse_decimal, pct, signed
from silvertine_tui.ui.keymap import BY_ID, SPECS, display_keys, unknown_ids
from silvertine_tui.ui.model import FeedModel, Notice, QuoteState
from silvertine_tui.ui.state import UserState
from silvertine_tui.ui.themes import (
    TRADING_VARIABLES,
    ThemeFileError,
    load_theme_file,
    load_themes,
    pick_theme,
)
from silvertine_tui.ui.widgets.palette import DEFAULT_PALETTE
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.watchlist import Watchlist, sparkline

from .conftest import REPO, Desk

THEME_DIR = REPO / "themes"


def test_the_four_theme_files_load_with_every_trading_colour() -> None:
    loaded = load_themes([THEME_DIR])
    assert loaded.problems == []
    assert set(loaded.themes) >= {
        "silvertine-dark",
        "silvertine-light",
        "silvertine-high-contrast",
        "silvertine-amber",
    }
    for theme in loaded.textual_themes():
        assert set(TRADING_VARIABLES) <= set(theme.variables), theme.name


def test_a_bad_theme_file_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text(
        'name = "broken"\n[colors]\nprimary = "not-a-colour"\n[trading]\nbid = "#fff"\n'
    )
    (tmp_path / "ok.toml").write_text((THEME_DIR / "silvertine-amber.toml").read_text())
    loaded = load_themes([tmp_path])
    assert list(loaded.themes) == ["silvertine-amber"]
    assert len(loaded.problems) == 1
    assert "broken.toml" in loaded.problems[0]
    assert "colors.primary" in loaded.problems[0]
    with pytest.raises(ThemeFileError, match=r"trading\.ask"):
        load_theme_file(tmp_path / "broken.toml")


def sixteen_colours(colour: str) -> tuple[int, int, int]:
    """What a colour is drawn as with TEXTUAL_COLOR_SYSTEM=standard: the ANSI colour
    Rich reduces it to, in Rich's default terminal palette."""
    triplet = Color.parse(colour).downgrade(ColorSystem.STANDARD).get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def contrast(one: tuple[int, int, int], other: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio."""

    def luminance(rgb: tuple[int, int, int]) -> float:
        parts = [c / 255 for c in rgb]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in parts]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_high_contrast_theme_stays_high_contrast_in_16_colours() -> None:
    """Every colour text is drawn in (and the markers drawn reversed: black on it) is
    4.5:1 or more against the background once reduced to 16 colours. Pure #ff0000 was
    drawn as SGR 31, dark red: ticket errors at 1.9:1 on black."""
    theme = load_theme_file(THEME_DIR / "silvertine-high-contrast.toml")
    c = theme.colors
    text = {
        "primary": c.primary,
        "secondary": c.secondary,
        "accent": c.accent,
        "warning": c.warning,
        "error": c.error,
        "success": c.success,
        "foreground": c.foreground,
        **theme.trading.as_variables(),
    }
    del text["stale"]  # dimmed on purpose
    assert c.background is not None
    background = sixteen_colours(c.background)
    low = {
        name: round(ratio, 2)
        for name, colour in text.items()
        if colour is not None and (ratio := contrast(sixteen_colours(colour), background)) < 4.5
    }
    assert low == {}
    assert Color.parse(c.error or "").downgrade(ColorSystem.STANDARD).number == 9  # SGR 91


def test_pick_theme_order() -> None:
    names = ["silvertine-dark", "silvertine-amber"]
    assert pick_theme(["silvertine-amber", "silvertine-dark"], names) == "silvertine-amber"
    assert pick_theme([None, "nope"], names) == "silvertine-dark"


def test_user_state_round_trip_and_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    state = UserState(path)
    assert state.theme is None
    state.remember_theme("silvertine-amber")
    state.save()
    assert UserState(path).theme == "silvertine-amber"
    path.write_text("{not json")
    assert UserState(path).theme is None


def test_help_gives_its_text_the_room_at_80_columns() -> None:
    """The help at 80x24 (74 columns inside the dialog): each scope's title is a line
    of its own, not a cell that widened the keys' column to 28, and the ids line up
    at one column in every scope."""
    from rich.console import Console

    from silvertine_tui.ui.keymap import SCOPES
    from silvertine_tui.ui.screens.help import help_table

    console = Console(width=74, record=True, color_system=None)
    console.print(help_table({"app.kill_switch": "ctrl+k"}))
    lines = console.export_text().splitlines()
    for title in SCOPES.values():
        assert title in [line.strip() for line in lines]
    starts = {
        line.rstrip().rindex(" ") + 1 for line in lines if line.rstrip().endswith(tuple(BY_ID))
    }
    assert len(starts) == 1, starts
    kill = next(line for line in lines if line.rstrip().endswith("app.kill_switch"))
    assert kill.startswith("ctrl+k ")
    assert kill.index("cancel every order") < 30, kill


def test_keymap_ids_are_unique_and_complete() -> None:
    ids = [spec.id for spec in SPECS]
    assert len(ids) == len(set(ids))
    for needed in (
        "ticket.buy",
        "ticket.sell",
        "ticket.fire",
        "blotter.cancel",
        "blotter.modify",
        "blotter.history",
        "app.cancel_all",
        "app.kill_switch",
        "app.resume",
        "app.help",
        "app.theme",
    ):
        assert needed in BY_ID
    assert unknown_ids({"ticket.buy": "B", "nope.x": "y"}) == ["nope.x"]
    assert display_keys("ctrl+backslash,question_mark") == "ctrl+\\ / ?"
    assert all(display_keys(spec.keys).isascii() for spec in SPECS)


def test_formatting_is_decimal_with_separators() -> None:
    assert num(Decimal("1234567.5")) == "1,234,567.5"
    assert num(Decimal("65000.005"), 2) == "65,000.00"
    assert signed(Decimal("12.5")) == "+12.50"
    assert signed(Decimal("-3")) == "-3.00"
    assert pct(Decimal("0.123")) == "+0.12%"
    assert pct(Decimal("-0.004")) == "0.00%"
    assert signed(Decimal("-0.001")) == "0.00"
    assert parse_decimal(" 1,000.50 ") == Decimal("1000.50")
    assert parse_decimal("1_000") == Decimal(1000)
    for typo in ("abc", "1.2.3", "", "NaN", "inf"):
        with pytest.raises(NotANumber, match="is not a number"):
            parse_decimal(typo)
    assert age(3.21) == "3.2s"
    assert age(125) == "2m05s"


@given(
    st.decimals(min_value=-1000, max_value=1000, places=6, allow_nan=False),
    st.integers(0, 4),
)
def test_a_signed_figure_reads_as_it_rounds(value: Decimal, places: int) -> None:
    """The sign, and the colour, are the shown number's: a change that rounds to
    nothing reads `0.00%` uncoloured, never `-0.00%` in red nor `+0.00%` in green."""
    shown = value.quantize(Decimal(1).scaleb(-places))
    for text, suffix in ((pct(value, places), "%"), (signed(value, places), "")):
        assert text.endswith(suffix)
        body = text.removesuffix(suffix)
        assert Decimal(body.replace(",", "")) == shown
        assert body.startswith("+") == (shown > 0)
        assert body.startswith("-") == (shown < 0)
    palette = DEFAULT_PALETTE
    expected = palette.plain if shown == 0 else palette.up if shown > 0 else palette.down
    assert palette.pnl(value, places) == expected


@given(st.decimals(min_value="-9.99", max_value="9.99", places=4, allow_nan=False))
def test_a_small_signed_figure_fits_its_column_from_the_start(value: Decimal) -> None:
    """Chg%, uPnL and rPnL are as wide as `+0.00%` / `+0.00` before any row: the first
    sign after `0.00` does not widen the column and repaint the whole table (each
    quote's step wrote every symbol again)."""
    assert cell_len(pct(value)) <= Watchlist().column_width("chg")
    for column in ("upl", "rpl"):
        assert cell_len(signed(value)) <= Positions().column_width(column)


PRICES = st.decimals(min_value="0.01", max_value="100000", places=2, allow_nan=False)


@given(PRICES, PRICES, st.one_of(st.none(), PRICES), PRICES)
def test_last_is_the_last_trade_and_chg_follows_the_mark(
    bid: Decimal, spread: Decimal, last: Decimal | None, reference: Decimal
) -> None:
    """The Last cell is the quote's last trade or `-`, never the mid in its place; Chg%
    is the mid's change against the reference (the price positions are marked at)."""
    quote = Quote(instrument="ETHUSDT.PAPER", bid=bid, ask=bid + spread, last=last)
    state = QuoteState("ETHUSDT.PAPER", "paper", quote, 0, reference, deque())
    row = Watchlist().row_for(state, now_s=0.0)
    assert row[3].text == (num(last) if last is not None else "-")
    mid = (bid + bid + spread) / 2
    assert row[4].text == pct((mid - reference) / reference * 100)


def test_sparkline_is_ascii_width_and_scaled() -> None:
    line = sparkline([Decimal(x) for x in (1, 2, 3, 4)], width=6)
    assert len(line) == 6
    assert line.startswith("  ")
    assert line[-1] == "█"
    assert line[2] == "▁"


def _entry(n: int, event: QuoteEvent | FillEvent) -> BusEntry:
    return BusEntry("silvertine:md:paper", f"{1_767_364_200_000 + n}-0", event)


def test_model_coalesces_quotes_and_bounds_the_log() -> None:
    now = [1_767_364_200.0]
    model = FeedModel(prefix="silvertine", clock=lambda: now[0], log_limit=100)
    for n in range(1_000):
        quote = Quote(
            instrument="BTCUSDT.PAPER",
            bid=Decimal(65_000 + n),
            ask=Decimal(65_001 + n),
            last=Decimal(65_000 + n),
        )
        model.ingest(_entry(n, QuoteEvent.create("paper", quote, ts=int(now[0] * 1e9))))
    assert model.take_dirty_quotes() == {"BTCUSDT.PAPER"}
    assert model.quotes["BTCUSDT.PAPER"].quote.bid == Decimal(65_999)
    assert model.take_dirty_quotes() == set()
    for n in range(500):
        fill = Fill(
            exec_id=f"x{n}",
            client_order_id="st1",
            broker="paper",
            account="main",
            instrument="BTCUSDT.PAPER",
            side="BUY",
            quantity=Decimal("0.01"),
            price=Decimal(65_000),
            fee=Decimal("0.65"),
            fee_currency="USDT",
        )
        model.ingest(_entry(2_000 + n, FillEvent.create("paper/main", fill)))
    assert len(model.log) == 100  # bounded
    assert model.log_total == 500
    assert model.log[-1].number == 499
    assert model.fee_rates.rate("paper", "BTCUSDT.PAPER") == FeeRate(Decimal("0.001"))
    # Fills make no toast: the header's fill line shows the newest and counts the rest.
    assert model.take_notices(limit=5) == []
    line = model.recent_fills.line(now[0])
    assert line is not None
    assert (line.side, line.text, line.more) == ("BUY", "BUY 0.01 BTCUSDT.PAPER @ 65,000", 499)
    # Any other burst: at most `limit` toasts a frame, the rest summarised.
    model.notices.extend(Notice("Risk reject", f"r{n}", "error") for n in range(12))
    notices = model.take_notices(limit=5)
    assert len(notices) == 5
    assert notices[-1].message == "8 more events: see the log"


def test_a_batch_applies_each_instruments_latest_quote_and_every_other_entry() -> None:
    now = [1_767_364_200.0]
    applied: list[str] = []

    class Counted(FeedModel):
        def _quote(self, event: QuoteEvent, arrived: int | None) -> None:
            applied.append(event.payload.instrument)
            super()._quote(event, arrived)

    model = Counted(prefix="silvertine", clock=lambda: now[0])
    batch = []
    for n in range(300):
        key = ("BTCUSDT.PAPER", "ETHUSDT.PAPER", "SOLUSDT.PAPER")[n % 3]
        quote = Quote(instrument=key, bid=Decimal(100 + n), ask=Decimal(101 + n))
        batch.append(_entry(n, QuoteEvent.create("paper", quote, ts=int(now[0] * 1e9))))
        if n == 150:
            fill = Fill(
                exec_id="x1",
                client_order_id="st1",
                broker="paper",
                account="main",
                instrument=key,
                side="BUY",
                quantity=Decimal("0.01"),
                price=Decimal(100),
            )
            batch.append(_entry(n, FillEvent.create("paper/main", fill)))
    model.ingest_batch(batch)
    # Three quote states written (one each), not three hundred; the fill is logged.
    assert sorted(applied) == ["BTCUSDT.PAPER", "ETHUSDT.PAPER", "SOLUSDT.PAPER"]
    assert model.log_total == 1
    assert model.rates.total == 301  # every entry counted
    assert model.quotes["SOLUSDT.PAPER"].quote.bid == Decimal(399)
    assert model.quotes["BTCUSDT.PAPER"].quote.bid == Decimal(397)


def test_model_toasts_each_trouble_the_bus_finds_and_a_broker_s_outage_once() -> None:
    """The bus sends no heartbeats: each health message it sends is something it found
    (a second key of another type, entries dead-lettered), told even while DEGRADED. A
    broker's retries of one outage stay one toast."""
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    said = [
        ("bus", "k1 holds a string, not a stream"),
        ("bus", "k1 holds a string, not a stream"),  # the same again: nothing new
        ("bus", "k2 holds a list, not a stream"),
        ("broker:paper/main", "no answer"),
        ("broker:paper/main", "no answer from paper yet"),
    ]
    for n, (component, message) in enumerate(said):
        health = Health(component=component, state=ConnectionState.DEGRADED, message=message)
        model.ingest(
            BusEntry("silvertine:health", f"{1_767_364_200_000 + n}-0",
                     HealthEvent.create(component, health))
        )  # fmt: skip
    assert [(n.title, n.message) for n in model.take_notices()] == [
        ("bus DEGRADED", "k1 holds a string, not a stream"),
        ("bus DEGRADED", "k2 holds a list, not a stream"),
        ("paper/main DEGRADED", "no answer"),
    ]


def test_model_toasts_a_disconnect_once() -> None:
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    health = Health(component="broker:paper/main", state=ConnectionState.DISCONNECTED)
    for n in range(3):
        model.ingest(
            BusEntry("silvertine:health", f"{1_767_364_200_000 + n}-0",
                     HealthEvent.create("broker:paper/main", health))
        )  # fmt: skip
    notices = model.take_notices()
    assert [n.title for n in notices] == ["paper/main DISCONNECTED"]
    assert model.log_total == 1  # the repeats are heartbeats: not logged


async def test_theme_switch_is_remembered_across_runs(make_desk, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    desk: Desk = make_desk(theme=None, state_path=state)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        assert desk.app.theme == "silvertine-dark"
        await pilot.press("f6")
        await desk.settle(pilot)
        assert desk.app.theme != "silvertine-dark"
        chosen = desk.app.theme
        await desk.session.close()
    assert UserState(state).theme == chosen
    again: Desk = make_desk(theme=None, state_path=state)
    async with again.app.run_test(size=(120, 36)) as pilot:
        await again.start(pilot)
        assert again.app.theme == chosen
        await again.session.close()


async def test_an_app_asked_for_an_unknown_theme_says_so(
    make_desk, caplog: pytest.LogCaptureFixture
) -> None:
    """The CLI refuses an unknown `--theme` or `ui.theme` before the app; an app built
    with one all the same shows the default and says which themes there are."""
    desk: Desk = make_desk(theme="solarized-neon")
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        assert desk.app.theme == "silvertine-dark"
        [toast] = [n for n in desk.app._notifications if n.title == "Unknown theme"]
        assert toast.severity == "error"
        assert toast.message.startswith("theme: unknown theme 'solarized-neon'; known themes: ")
        assert "silvertine-high-contrast" in toast.message
        assert toast.message.endswith("Showing silvertine-dark.")
        await desk.session.close()
    logged = [r for r in caplog.records if r.getMessage() == "ui.theme_unknown"]
    assert len(logged) == 1
    assert "solarized-neon" in logged[0].problem  # type: ignore[attr-defined]


async def test_keymap_from_config_remaps_a_binding(make_desk) -> None:
    from .conftest import make_settings

    desk: Desk = make_desk(settings=make_settings(keymap={"app.kill_switch": "ctrl+k"}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        assert desk.app.screen.id == "main"
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert desk.app.screen.id == "kill"
        await pilot.press("escape")
        await desk.session.close()


async def test_compact_layout_switches_panes_by_number(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        screen = desk.app.screen
        assert screen.has_class("-compact")
        shown = [p.id for p in screen.query(".pane.-shown")]
        assert shown == ["pane-watchlist"]
        await pilot.press("3")
        assert [p.id for p in screen.query(".pane.-shown")] == ["pane-blotter"]
        await pilot.press("f2")
        assert [p.id for p in screen.query(".pane.-shown")] == ["pane-positions"]
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert not screen.has_class("-compact")
        await desk.session.close()


async def test_command_palette_offers_the_desk_commands(make_desk) -> None:
    from silvertine_tui.ui.commands import DeskCommands

    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        provider = DeskCommands(desk.app.screen)
        names = [name for name, _, _ in provider._commands()]
        for wanted in (
            "buy",
            "sell",
            "cancel all",
            "kill switch",
            "theme silvertine-amber",
            "broker paper/main",
            "focus orders",
        ):
            assert wanted in names
        dict((n, c) for n, c, _ in provider._commands())["theme silvertine-amber"]()
        await pilot.pause()
        assert desk.app.theme == "silvertine-amber"
        await desk.session.close()


async def test_a_fill_shows_in_the_header_not_as_a_toast(make_desk) -> None:
    from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce

    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(
            OrderRequest(
                broker="paper",
                account="main",
                instrument="ETHUSDT.PAPER",
                side=Side.BUY,
                order_type=OrderType.MARKET,
                quantity=Decimal("0.1"),
                tif=TimeInForce.IOC,
            )
        )
        await desk.step(pilot, 1)
        from silvertine_tui.ui.widgets.header import DeskHeader

        header = str(desk.app.screen.query_one(DeskHeader).render())
        assert "FILL BUY 0.1 ETHUSDT.PAPER @ " in header, header
        assert not [n for n in desk.app._notifications if "ill" in n.title]
        await desk.session.close()


def test_fee_estimate_uses_the_paper_venues_taker_rate() -> None:
    from silvertine_tui.bus import BusOptions, MemoryBus
    from silvertine_tui.config import PaperBrokerConfig, Settings
    from silvertine_tui.engine import Session
    from silvertine_tui.ui.desk import Desk as UIDesk

    paper = PaperBrokerConfig(name="paper", fees={"maker_bps": "2", "taker_bps": "25"})
    session = Session(Settings(brokers=[paper]), bus=MemoryBus(BusOptions()))
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    desk = UIDesk(session=session, model=model)
    model.fee_rates.learn(fill("paper", "BTCUSDT.PAPER", "1", "100", "0.02"))  # a maker fill
    assert desk.fee_rate("paper", "BTCUSDT.PAPER") == FeeRate(Decimal("0.0025"))  # not the estimate
    model.fee_rates.learn(fill("binance", "ETHUSDT.BINANCE", "2", "3000", "4.5"))
    assert desk.fee_rate("binance", "ETHUSDT.BINANCE") == FeeRate(Decimal("0.00075"))  # as charged
    assert desk.fee_rate("binance", "BTCUSDT.BINANCE") == FeeRate(Decimal("0.00075"))  # the venue's
    assert desk.fee_rate("ib", "AAPL") == FeeRate(Decimal("0.001"))  # nothing known yet


def fill(broker: str, instrument: str, qty: str, price: str, fee: str, ccy: str = "") -> Fill:
    return Fill(
        exec_id=f"x-{broker}-{instrument}-{qty}",
        client_order_id="st1",
        broker=broker,
        account="main",
        instrument=instrument,
        side="BUY",
        quantity=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        fee_currency=ccy,
    )


def test_a_minimum_commission_does_not_make_the_fee_estimate_of_every_order() -> None:
    """IB charges 2 USD for an FX fill of 11 units: as the broker's rate (18%), the
    ticket estimated a fee of 27,951.94 on 44,844.00 of AAPL and the buying power
    check refused 450 shares the cash covered. Rates are per instrument, and from the
    fill a minimum weighs least on (the largest)."""

    def listed(symbol: str, venue: str, multiplier: str = "1") -> Instrument:
        return Instrument(
            symbol=symbol,
            venue=venue,
            quote_currency="USD",
            tick_size=Decimal("0.01"),
            lot_size=Decimal(1),
            multiplier=Decimal(multiplier),
        )

    aapl, fx, es = (
        listed("AAPL", "SMART"),
        listed("EUR.USD", "IDEALPRO"),
        listed("ESZ6", "CME", "50"),
    )
    rates = FeeRates()
    rates.learn(fill("ib", "AAPL", "100", "190", "0.50", "USD"), aapl)  # 0.005 a share
    rates.learn(fill("ib", "EUR.USD.IDEALPRO", "11", "1.0873", "2", "USD"), fx)
    assert rates.rate("ib", "AAPL") == FeeRate(Decimal("0.50") / Decimal(19_000))
    # A small AAPL fill at the 1 USD minimum moves the rate not: it is the minimum.
    rates.learn(fill("ib", "AAPL", "1", "190", "1", "USD"), aapl)
    at_least_1 = FeeRate(Decimal("0.50") / Decimal(19_000), minimum=Decimal(1))
    assert rates.rate("ib", "AAPL") == at_least_1
    # An instrument not filled yet: the broker's rate, from its largest fill.
    assert rates.rate("ib", "MSFT") == at_least_1
    # A future charged as a rate has its rate of the notional with the multiplier, as
    # the ticket's preview (one charged per contract: test_fee_estimate_per_contract).
    rates.learn(fill("ib", "ESZ6.CME", "1", "6000", "2.25", "USD"), es)
    assert rates.rate("ib", "ESZ6.CME") == FeeRate(Decimal("2.25") / Decimal(300_000))
    # The desk's model learns from the fills it reads, with the instrument it lists.
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    model.describer.instruments = {"AAPL": aapl}.get
    event = FillEvent.create("ib/main", fill("ib", "AAPL", "100", "190", "0.50", "USD"))
    model.ingest(BusEntry("silvertine:exec:ib:main", "1767364200000-0", event))
    assert model.fee_rates.rate("ib", "AAPL") == FeeRate(Decimal("0.50") / Decimal(19_000))
    # An unpriced fee in another asset says nothing.
    rates.learn(fill("binance", "ETHUSDT.BINANCE", "1", "3000", "0.01", "BNB"))
    assert rates.rate("binance", "ETHUSDT.BINANCE") is None


def test_fee_estimate_per_contract_for_a_future_and_a_rate_for_binance() -> None:
    """IB charges a futures contract per contract (the fake TWS: 2.25 USD), not a
    fraction of its notional: taken as a rate, one ES contract (301,375.00 USD) was
    estimated at 202.89 USD. An instrument charged per unit (`fee_per_unit`, from the
    IB contract) is estimated at the reference fill's fee per unit times the quantity;
    one charged a fraction of the notional (Binance, paper) as before."""

    def listed(key: str, multiplier: str, kind: InstrumentKind, per_unit: bool) -> Instrument:
        symbol, _, venue = key.rpartition(".")
        return Instrument(
            symbol=symbol,
            venue=venue,
            quote_currency="USDT" if venue == "BINANCE" else "USD",
            tick_size=Decimal("0.01"),
            lot_size=Decimal(1),
            multiplier=Decimal(multiplier),
            kind=kind,
            fee_per_unit=per_unit,
        )

    future, spot = InstrumentKind.FUTURE, InstrumentKind.SPOT
    es, nq = listed("ESZ6.CME", "50", future, True), listed("NQZ6.CME", "20", future, True)
    aapl, msft = listed("AAPL.SMART", "1", spot, True), listed("MSFT.SMART", "1", spot, True)
    eth = listed("ETHUSDT.BINANCE", "1", spot, False)
    rates = FeeRates()
    rates.learn(fill("ib", "AAPL.SMART", "100", "190", "0.50", "USD"), aapl)
    assert rates.rate("ib", "AAPL.SMART", aapl) == FeeRate(Decimal("0.005"), per_unit=True)
    # A share's fee says nothing of a contract's: not known until a future fills.
    assert rates.rate("ib", "ESZ6.CME", es) is None
    rates.learn(fill("ib", "ESZ6.CME", "2", "6027.50", "4.50", "USD"), es)
    per_contract = rates.rate("ib", "ESZ6.CME", es)
    assert per_contract == FeeRate(Decimal("2.25"), per_unit=True)
    one = es.notional(Decimal(1), Decimal("6027.50"))
    assert one == Decimal("301375.00")
    assert per_contract.fee(Decimal(1), one) == Decimal("2.25")
    assert per_contract.fee(Decimal(3), 3 * one) == Decimal("6.75")
    # Not filled yet: the broker's instruments of the same kind, charged the same way.
    assert rates.rate("ib", "NQZ6.CME", nq) == FeeRate(Decimal("2.25"), per_unit=True)
    assert rates.rate("ib", "MSFT.SMART", msft) == FeeRate(Decimal("0.005"), per_unit=True)
    # The largest fill by quantity is the reference; a small one at the minimum is that.
    rates.learn(fill("ib", "AAPL.SMART", "1", "190", "1", "USD"), aapl)
    assert rates.rate("ib", "AAPL.SMART", aapl) == FeeRate(
        Decimal("0.005"), per_unit=True, minimum=Decimal(1)
    )
    # A venue charging a fraction of the notional: a rate, times the order's notional.
    rates.learn(fill("binance", "ETHUSDT.BINANCE", "2", "3000", "4.5", "USDT"), eth)
    rate = rates.rate("binance", "ETHUSDT.BINANCE", eth)
    assert rate == FeeRate(Decimal("0.00075"))
    assert rate.fee(Decimal(1), Decimal(3500)) == Decimal("2.625")
    # A fill read before its instrument was listed was taken as a rate: once the
    # instrument says it is charged per contract, that rate is not used for it.
    early = FeeRates()
    early.learn(fill("ib", "ESZ6.CME", "2", "6027.50", "4.50", "USD"))
    assert early.rate("ib", "ESZ6.CME", es) is None
    early.learn(fill("ib", "ESZ6.CME", "1", "6027.50", "2.25", "USD"), es)
    assert early.rate("ib", "ESZ6.CME", es) == FeeRate(Decimal("2.25"), per_unit=True)


def test_risk_rules_are_shown_against_the_field_they_concern() -> None:
    from silvertine_tui.engine.risk import RiskViolation
    from silvertine_tui.ui.orders import risk_problems

    found = risk_problems(
        [
            RiskViolation("trading_state", "trading is HALTED (kill switch); resume first"),
            RiskViolation("max_notional", "notional 12,000 > max 10,000"),
            RiskViolation("price_collar", "limit_price 1.00 is 99% from the market"),
            RiskViolation("price_collar", "stop_price 1.00 is 99% from the market"),
            RiskViolation("a_future_rule", "something new"),
        ]
    )
    assert [p.field for p in found] == ["", "quantity", "limit_price", "stop_price", ""]
    assert str(found[0]) == "trading is HALTED (kill switch); resume first [trading_state]"
    assert str(found[1]) == "Qty: notional 12,000 > max 10,000 [max_notional]"


def test_balances_print_what_is_held_never_rounded() -> None:
    """Exactly, two places at least; never rounded (1.23456789 read 1.23457, 3178.175
    read 3,178.18: more than is there); beyond 8 places cut toward zero and marked."""
    from silvertine_tui.domain.money import money_text as money

    assert money(Decimal("949455.83633")) == "949,455.83633"
    assert money(Decimal("100000")) == "100,000.00"
    assert money(Decimal("3178.175")) == "3,178.175"
    assert money(Decimal("1.23456789")) == "1.23456789"
    assert money(Decimal("1.234567899")) == "1.23456789…"
    assert money(Decimal("0.00012345")) == "0.00012345"
    assert money(Decimal("0.5")) == "0.50"
    assert money(Decimal("0")) == "0.00"
    assert money(None) == "-"


def test_a_broker_retrying_is_toasted_once_an_outage() -> None:
    """A venue that stays away cycles DISCONNECTED -> CONNECTING -> DISCONNECTED every
    retry: one toast, not one a retry; again when it gets worse or after it was LIVE."""
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_200.0)
    states = [
        ConnectionState.DEGRADED,
        ConnectionState.CONNECTING,
        ConnectionState.DEGRADED,  # the same outage: no toast
        ConnectionState.DISCONNECTED,  # worse: a toast
        ConnectionState.CONNECTING,
        ConnectionState.DISCONNECTED,  # the same outage again: no toast
        ConnectionState.LIVE,
        ConnectionState.DISCONNECTED,  # a new outage: a toast
    ]
    for n, state in enumerate(states):
        model.ingest(
            BusEntry(
                "silvertine:health",
                f"{1_767_364_200_000 + n}-0",
                HealthEvent.create(
                    "broker:binance/main",
                    Health(component="broker:binance/main", state=state, message=f"try {n}"),
                ),
            )
        )
    titles = [n.title for n in model.take_notices()]
    assert titles == [
        "binance/main DEGRADED",
        "binance/main DISCONNECTED",
        "binance/main DISCONNECTED",
    ]


@given(
    st.text(alphabet=st.sampled_from("ab1 .,@"), max_size=60),
    st.integers(min_value=0, max_value=70),
)
def test_fit_never_shows_part_of_a_word(text: str, width: int) -> None:
    """A cut line keeps whole words only (a number is never shown in part) and says it
    was cut; a line that fits is left alone."""
    shown = fit(text, width)
    assert len(shown) <= width
    if len(text) <= width:
        assert shown == text
        return
    if width < 2:
        assert shown == "…"[:width]
        return
    assert shown.endswith("…")
    if shown.endswith(" …"):
        kept = shown[:-2]
        assert text.startswith(kept)
        assert text[len(kept)] == " "  # what follows was dropped from a word's start
    else:  # the first word is wider than the room: cut where it must
        assert shown == text[: width - 1] + "…"
        assert " " not in text[1 : width - 1]


def test_fit_cuts_before_the_number_not_inside_it() -> None:
    line = "01:15:21 update  PENDING_NEW BUY 10 AAPL.SMART @ 149.78"
    assert fit(line, 34) == "01:15:21 update  PENDING_NEW BUY …"
    assert fit(line, 37) == "01:15:21 update  PENDING_NEW BUY 10 …"
    assert fit("FILL BUY 0.5 ETHUSDT.PAPER", 12) == "FILL BUY …"
    assert fit("ETHUSDT.PAPER", 6) == "ETHUS…"


@given(
    st.lists(
        st.tuples(st.sampled_from(("health", "risk", "exec:paper:main")), st.integers(0, 40)),
        max_size=60,
    )
)
def test_a_batch_of_several_streams_is_logged_in_time_order(stamps: list[tuple[str, int]]) -> None:
    """XREAD over several streams answers stream by stream: a desk's first read (up to
    `FEED_BACKLOG` of each) must not log one stream's hour, then another's."""
    by_stream: dict[str, list[BusEntry]] = {}
    seqs: dict[tuple[str, int], int] = {}
    for stream, ms in sorted(stamps, key=lambda s: s[1]):  # each stream's ids increase
        seq = seqs[stream, ms] = seqs.get((stream, ms), -1) + 1
        entry_id = f"{1_767_364_200_000 + ms}-{seq}"
        log = Log(level=LogLevel.INFO, message=f"{stream} {entry_id}")
        by_stream.setdefault(stream, []).append(
            BusEntry(f"silvertine:{stream}", entry_id, LogEvent.create("desk", log))
        )
    batch = [entry for entries in by_stream.values() for entry in entries]  # as XREAD
    model = FeedModel(prefix="silvertine", clock=lambda: 1_767_364_300.0)
    model.ingest_batch(batch)
    logged = [(line.ts_ms, line.stream, line.text) for line in model.log]
    # Every entry once, in time order, each stream's in its own order.
    assert sorted(logged) == sorted(
        (int(e.id.split("-")[0]), e.stream.removeprefix("silvertine:"), model.describer(e.event))
        for e in batch
    )
    assert [ms for ms, _, _ in logged] == sorted(ms for ms, _, _ in logged)
    for stream, entries in by_stream.items():
        texts = [text for _, name, text in logged if name == stream]
        assert texts == [model.describer(e.event) for e in entries]


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**15, places=8))
def test_a_number_the_desk_prints_reads_back_as_itself(value: Decimal) -> None:
    """What a trader copies from a pane into the ticket (`65,000.50`) is that number."""
    assert parse_decimal(num(value)) == value


@given(
    st.from_regex(r"\A[0-9]{1,4},([0-9]{1,2}|[0-9]{4,6})\Z"),
    st.sampled_from(["", ".5", ".25"]),
)
def test_a_decimal_comma_is_refused_not_read_as_thousands(typed: str, tail: str) -> None:
    """`1,5` or `0,01` is somebody's 1.5 or 0.01: refused with the reason, never read
    as 15 or 1 (the ticket would send a hundred times the quantity it shows)."""
    with pytest.raises(NotANumber, match="a comma only separates thousands"):
        parse_decimal(typed + tail)


@given(
    st.from_regex(r"\A0{1,3}\Z") | st.from_regex(r"\A[0-9]{4,6}\Z"),
    st.from_regex(r"\A([,_][0-9]{3})+\Z"),
    st.sampled_from(["", ".5", ".001"]),
)
def test_separators_after_no_thousands_are_refused(head: str, groups: str, tail: str) -> None:
    """`0,001` and `0_01` read as 1 (the ticket showed 0,001 and sent a thousand times
    it): a separator after a zero or after more than three digits separates no
    thousands, and is refused."""
    with pytest.raises(NotANumber, match=r"(a comma|an underscore) only separates thousands"):
        parse_decimal(head + groups + tail)


@given(
    st.from_regex(r"\A[0-9]+([_,][0-9]+)+\Z").filter(
        lambda t: any(len(g) != 3 for g in re.split("[_,]", t)[1:])
    ),
    st.sampled_from(["", ".5"]),
)
def test_separators_between_other_than_three_digits_are_refused(typed: str, tail: str) -> None:
    """`1_5` read as 15, `1__0` as 10: an underscore is a thousands separator as a
    comma is, or nothing."""
    with pytest.raises(NotANumber, match=r"(a comma|an underscore) only separates thousands"):
        parse_decimal(typed + tail)


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**15, places=8))
def test_a_number_typed_with_underscores_reads_back_as_itself(value: Decimal) -> None:
    assert parse_decimal(num(value).replace(",", "_")) == value


def test_a_refusal_names_the_separator_typed() -> None:
    for typed, said in (
        ("0_01", "'0_01' is not a number: an underscore only separates thousands (1_000.5)"),
        ("0,01", "'0,01' is not a number: a comma only separates thousands (1,000.5)"),
    ):
        with pytest.raises(NotANumber) as refused:
            parse_decimal(typed)
        assert str(refused.value).startswith(said)
