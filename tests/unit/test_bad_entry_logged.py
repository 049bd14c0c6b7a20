"""Bad entries on the bus leave a trace: the bus logs each once (`bus.bad_entry`, a
WARNING with its stream, entry id, reason and a bounded excerpt, never the entry
whole); the Log pane's line names its stream and entry id; the engine says a bad entry
of a journal (an account's execution journal, the risk stream) as a `not_applied`
anomaly and one of any other stream not at all (market data, health, signals are no
one's money)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui import logsetup
from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.bus.base import BusStats
from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import catch_up, load_snapshot, write_snapshot
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import DecodeError, UnknownEvent, decode
from silvertine_tui.ui.model import FeedModel, LineKind
from tests.fakes.scripted_venue import ScriptedVenue, scripted_fill

JOURNAL = "silvertine:exec:paper:main"
ENTRY = "1767364202000-0"


def _bad_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "bus.bad_entry"]


def _stats() -> BusStats:
    return BusStats(backend="memory", url="memory://")


def test_each_bad_entry_is_logged_once_by_its_stream_and_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    stats = _stats()
    cut_short = decode({b"t": b"fill", b"v": b"1", b"id": b"e", b"ts": b"1", b"src": b"s"})
    assert isinstance(cut_short, DecodeError)
    for _reader in range(3):  # the engine's reader, the desk's, a recovery
        stats.count_decoded(cut_short, JOURNAL, ENTRY)
    stats.count_decoded(cut_short, "silvertine:health", ENTRY)  # another stream's entry
    assert stats.decode_errors == 2
    first, second = _bad_records(caplog)
    assert first.levelno == logging.WARNING
    assert (first.__dict__["stream"], first.__dict__["entry_id"]) == (JOURNAL, ENTRY)
    assert first.__dict__["reason"] == "missing field(s): p"
    assert second.__dict__["stream"] == "silvertine:health"


def test_an_entry_of_a_newer_version_is_logged_as_written_by_a_newer_build(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    stats = _stats()
    newer = decode(
        {b"t": b"fill", b"v": b"2", b"id": b"e", b"ts": b"1", b"src": b"paper/main", b"p": b"{}"}
    )
    assert isinstance(newer, UnknownEvent)
    stats.count_decoded(newer, JOURNAL, ENTRY)
    stats.count_decoded(newer, JOURNAL, ENTRY)
    (record,) = _bad_records(caplog)
    assert record.__dict__["reason"] == (
        "fill v2 is newer than this build reads (v1): written by a newer Silvertine"
    )
    assert record.__dict__["payload_bytes"] == 2
    assert stats.unknown_events == 1


def test_a_huge_bad_entry_is_logged_as_a_short_excerpt_with_secrets_hidden(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """10 MB in a field of an entry cut short: the log line is a few hundred bytes,
    and a desk's secret in the entry is hidden in it as in every line."""
    caplog.set_level(logging.INFO)
    secret = "sk-badentry-9f8e7d6c5b4a"
    logsetup.register_secret(secret)
    try:
        huge = decode(
            {
                b"t": b"fill",
                b"v": b"1",
                b"id": b"e",
                b"ts": b"x",
                b"src": f"key {secret}".encode(),
                b"p": b"y" * 10_000_000,
            }
        )
        assert isinstance(huge, DecodeError)
        _stats().count_decoded(huge, JOURNAL, ENTRY)
        (record,) = _bad_records(caplog)
        line = logsetup.JsonFormatter().format(record)
    finally:
        logsetup._secrets.discard(secret)
    assert len(line) < 1_500
    assert ENTRY in line
    assert JOURNAL in line
    assert "v and ts must be integers" in line
    assert secret not in line
    assert "key ***" in line


fields = st.dictionaries(
    st.sampled_from([b"t", b"v", b"id", b"ts", b"src", b"p", b"x", "t", "p"]),
    st.one_of(
        st.binary(max_size=50),
        st.sampled_from([b"fill", b"risk", b"order.update", b"1", b"2", b"-1"]),
        st.binary(min_size=5_000, max_size=20_000),
        st.text(max_size=50),
    ),
)


@given(entry=fields, entry_id=st.from_regex(r"[0-9]{1,15}-[0-9]{1,3}", fullmatch=True))
@settings(
    # (entries of up to 20 kB: on a loaded CI worker 8 took a second to draw, which
    # Hypothesis calls too slow; the drawing is the test's, not the product's)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=150,
)
def test_any_bad_entry_is_logged_once_bounded_and_named(
    entry: dict[bytes | str, bytes | str], entry_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.clear()
    decoded = decode(entry)
    stats = _stats()
    stats.count_decoded(decoded, JOURNAL, entry_id)
    stats.count_decoded(decoded, JOURNAL, entry_id)
    logged = _bad_records(caplog)
    if decoded.ok:
        assert logged == []
        return
    (record,) = logged
    assert record.__dict__["entry_id"] == entry_id
    assert record.__dict__["reason"]
    line = logsetup.JsonFormatter().format(record)
    assert len(line) < 2_000
    assert entry_id in line


def test_the_log_pane_line_of_a_bad_entry_names_its_stream_and_id() -> None:
    model = FeedModel(prefix="silvertine", clock=lambda: 0.0)
    model.ingest(BusEntry(JOURNAL, ENTRY, DecodeError("v and ts must be integers")))
    newer = UnknownEvent("fill", 2, "e", 1, "paper/main", b"{}")
    model.ingest(BusEntry("silvertine:risk", "1767364202001-3", newer))
    long = DecodeError("fill: payload: " + "z" * 5_000)
    model.ingest(BusEntry("silvertine:signal", "1767364202002-0", long))
    first, second, third = list(model.log)
    assert first.text == (
        "undecodable entry 1767364202000-0 on exec:paper:main: v and ts must be integers"
    )
    assert first.line_kind is LineKind.ERROR
    assert second.text == "unknown entry 1767364202001-3 on risk: 'fill' v2 (2 bytes)"
    # A long reason is cut: the line stays two rows at 80 columns.
    assert third.text.startswith("undecodable entry 1767364202002-0 on signal: fill: payload: z")
    assert third.text.endswith("z…")
    assert len(third.text) <= 160


@pytest.mark.parametrize(
    ("stream", "told"),
    [
        (JOURNAL, True),
        ("silvertine:risk", True),
        ("silvertine:health", False),
        ("silvertine:md:paper", False),
        ("silvertine:signal", False),
    ],
)
async def test_only_a_journal_entry_is_an_anomaly_and_once(stream: str, told: bool) -> None:
    bus = MemoryBus()
    await bus.start()
    engine = TradingEngine(bus, [ScriptedVenue.build(bus)], RiskConfig())
    bad = BusEntry(stream, ENTRY, DecodeError("fill: payload: Invalid JSON"))
    engine.apply_entry_or_skip(bad)
    engine.apply_or_skip([bad])  # handed over again (a second reader): said once
    engine.replaying = True  # a replay in the same run: still once
    engine.apply_or_skip([BusEntry(stream, ENTRY, bad.event)])
    engine.replaying = False
    assert engine.applied[stream] == ENTRY
    if not told:
        assert engine.anomalies.total == 0
        return
    assert dict(engine.anomalies.counts) == {AnomalyKind.NOT_APPLIED: 1}
    assert engine.anomalies.last.startswith(
        f"entry {ENTRY} on {stream} could not be read (fill: payload: Invalid JSON) and was "
        "not applied; "
    )
    await bus.close()


async def test_a_snapshot_loaded_again_behind_it_does_not_say_it_twice() -> None:
    """Never twice in one run, even when the journal is read again from before it (a
    snapshot loaded again sets the journal's applied entry back to the one it covers)."""
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig())
    stream = bus.layout.exec("scripted", "main")
    await bus.publish(scripted_fill(1))
    await catch_up(engine, "scripted/main")
    assert await write_snapshot(engine, "scripted", "main")
    snapshot = await latest_snapshot(bus, "scripted", "main")
    assert snapshot is not None
    bad = BusEntry(stream, "99999999999999-0", DecodeError("fill: payload: Invalid JSON"))
    engine.apply_entry_or_skip(bad)
    load_snapshot(engine, snapshot)
    assert engine.applied[stream] == snapshot.covers
    engine.apply_or_skip([bad])
    assert engine.applied[stream] == bad.id
    assert engine.anomalies.counts[AnomalyKind.NOT_APPLIED] == 1
    await bus.close()
