"""The desks of one host write one last-run record per bus and prefix
(`last_run.write_merged`): each keeps what the file holds for the brokers it does not
drive (`LastRun.acting`), read and written under the record's lock, so that two desks
writing at once never take each other's hold away (at worst a state is honoured
again, never left unhonoured)."""

from __future__ import annotations

import threading
from pathlib import Path

from silvertine_tui.domain import TradingState
from silvertine_tui.engine.last_run import LastRun, read, record_path, write, write_merged

KILL = "1700000000000-0"


def record(state_entry: str, acting: dict[str, str] | None = None) -> LastRun:
    return LastRun(
        bus="redis://localhost:6379/0",
        prefix="t",
        epoch="e1",
        trading_state=TradingState.HALTED,
        at_ms=1,
        state_entry=state_entry,
        acting=acting or {},
    )


def test_a_write_keeps_the_acting_of_brokers_its_desk_does_not_drive(tmp_path: Path) -> None:
    path = record_path(tmp_path, "redis://localhost:6379/0", "t")
    write_merged(path, record("1699999999999-9", {"paper": KILL}), frozenset({"paper"}))
    written = write_merged(path, record(KILL), frozenset({"pa"}))  # the neighbour: read
    assert written.acting == {"paper": KILL}
    found = read(path)
    assert found is not None
    assert found.acting == {"paper": KILL}
    assert found.state_entry == KILL
    # The desk driving it acted: its own write clears it.
    write_merged(path, record(KILL), frozenset({"paper"}))
    found = read(path)
    assert found is not None
    assert found.acting == {}


def test_a_write_keeps_the_kill_owed_of_brokers_its_desk_does_not_drive(tmp_path: Path) -> None:
    """The orders a kill switch's cancels left working on a broker (`LastRun.kill_owed`),
    which that broker's next start cancels: a neighbour's write keeps them."""
    path = record_path(tmp_path, "redis://localhost:6379/0", "t")
    owing = record("1699999999999-9", {"ib": KILL}).model_copy(
        update={"kill_owed": {"ib": ["c-1", "c-2"]}}
    )
    write_merged(path, owing, frozenset({"ib"}))
    written = write_merged(path, record(KILL), frozenset({"paper"}))
    assert written.kill_owed == {"ib": ["c-1", "c-2"]}
    assert written.acting == {"ib": KILL}
    write_merged(path, record(KILL), frozenset({"ib"}))  # its own desk: cancels made
    found = read(path)
    assert found is not None
    assert found.kill_owed == {}
    assert found.acting == {}


def test_a_record_without_acting_reads_as_none_acting(tmp_path: Path) -> None:
    """A record written before `acting` (or by an older build, which drops it)."""
    path = tmp_path / "r.json"
    write(path, record(KILL))
    raw = path.read_text(encoding="utf-8").replace('"acting": {}', '"other": 1')
    path.write_text(raw, encoding="utf-8")
    found = read(path)
    assert found is not None
    assert found.acting == {}


def test_two_desks_writing_at_once_keep_each_others_acting(tmp_path: Path) -> None:
    """Desk B writes its hold once while desk A of the same host writes in a loop: A's
    writes never take B's hold away (each round starts from a record without it)."""
    path = record_path(tmp_path, "redis://localhost:6379/0", "t")
    errors: list[BaseException] = []

    def neighbour(stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                write_merged(path, record(KILL), frozenset({"pa"}))
        except BaseException as exc:  # the test says it
            errors.append(exc)

    for _ in range(200):
        write(path, record(KILL))
        stop = threading.Event()
        thread = threading.Thread(target=neighbour, args=(stop,), daemon=True)
        thread.start()
        try:
            write_merged(path, record("1699999999999-9", {"paper": KILL}), frozenset({"paper"}))
            write_merged(path, record(KILL), frozenset({"pa"}))  # one more after it, at least
        finally:
            stop.set()
            thread.join(10)
        assert errors == []
        found = read(path)
        assert found is not None
        assert found.acting == {"paper": KILL}
