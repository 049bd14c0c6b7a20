"""A cancel report on a desk that lost its claim on a broker (another desk drives it
now: engine/cancels.py `driven_elsewhere`) says of that broker's orders still working
which desk drives it and to cancel them from there, not "send it again once paper/main
is LIVE" or "try cancel all again", which can never work on this desk; its listing's
and its account-wide cancel's failures are said once, as that."""

from __future__ import annotations

from silvertine_tui.engine.cancels import CancelReport, DrivenElsewhere, driven_elsewhere

DOWN = "NotConnected: paper/main is DISCONNECTED: nothing was sent. Send it again once LIVE"
LOST = DrivenElsewhere("paper", "paper/main", "desk host-2 pid 42")
BROKERS = {"st01": "paper", "st02": "paper", "st03": "ib"}


def test_orders_of_a_broker_another_desk_drives_are_said_to_be_cancelled_there() -> None:
    report = CancelReport(
        cancelled=("st04",),
        still_working={"st01": DOWN, "st02": DOWN, "st03": "BrokerTimeout: no answer"},
        problems=(
            "paper/main: its account-wide cancel failed for the same reason (NotConnected)",
            "ib/DU1: could not list its open orders (BrokerTimeout: no answer)",
        ),
    )
    said = driven_elsewhere(report, [LOST], BROKERS.get)
    why = "broker paper is driven by desk host-2 pid 42 now, this desk lost its claim on it"
    assert said.still_working == {"st01": why, "st02": why, "st03": "BrokerTimeout: no answer"}
    assert said.elsewhere == ("st01", "st02")
    assert said.problems == ("ib/DU1: could not list its open orders (BrokerTimeout: no answer)",)
    summary = said.summary()
    assert f"st01, st02 ({why})" in summary
    # Said apart: those this desk may cancel again, and those it cannot (NOT cancelled).
    assert summary == (
        "cancelled 1 order(s). 1 still working: st03 (BrokerTimeout: no answer). Cancel them "
        f"at the venue or try cancel all again. 2 NOT cancelled, refused on this desk: st01, "
        f"st02 ({why}). This desk can cancel none of them: cancel them from that desk, or, if "
        "it no longer runs, restart this one: it takes the broker back. ib/DU1: could not "
        "list its open orders (BrokerTimeout: no answer)."
    )
    assert said.headline() == "NOT everything cancelled"
    assert "once LIVE" not in summary


def test_a_broker_driven_elsewhere_with_no_order_known_is_said_once() -> None:
    report = CancelReport(
        problems=(
            "paper/main: could not list its open orders (NotConnected: ...)",
            "paper/main: its account-wide cancel failed (NotConnected: ...)",
        )
    )
    said = driven_elsewhere(report, [LOST], BROKERS.get)
    assert said.problems == (
        "paper/main: broker paper is driven by desk host-2 pid 42 now, this desk lost its "
        "claim on it; any order working there is cancelled from that desk, or, if it no longer "
        "runs, restart this one: it takes the broker back",
    )
    assert driven_elsewhere(report, [], BROKERS.get) is report
