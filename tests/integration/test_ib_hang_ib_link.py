"""The `ib` link (TWS's own link to IB's servers) while TWS hangs with its socket open
(SIGSTOP: `FakeTws.freeze`), against the fake TWS with the real ib_async client.

The watchdog (`IBSession._ask_if_tws_answers`: reqCurrentTime every `watchdog_s`,
`answer_timeout_s` for its answer) sets the api and market links DEGRADED; the `ib`
link read LIVE under them for as long as TWS did not answer, as if TWS had said so: a
hung TWS says nothing of its link to IB. It is DEGRADED now, "not known while TWS does
not answer (as last heard: ...)" (cancels still go: `cancel_through_degraded`), and is
put back as TWS last said it once TWS answers; at the bound the socket is dropped and
the link reads as last heard before the hang, not the hang's own words."""

from __future__ import annotations

from typing import Any

from silvertine_tui.domain import ConnectionState as L
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk
from tests.support.waiting import until

QUICK: dict[str, Any] = {"watchdog_s": 0.05, "answer_timeout_s": 0.2}
HUNG = "not known while TWS does not answer (as last heard: "


def link(d: Desk, name: str) -> tuple[L, str]:
    status = d.broker.health_state.links[name]
    return status.state, status.detail


async def ib_details(d: Desk) -> list[tuple[str, str]]:
    """Every state and detail the ib link was published with, in order."""
    said: list[tuple[str, str]] = []
    for health in await d.health():
        now = (
            str(health.metrics.get("link:ib", "")),
            str(health.metrics.get("link_detail:ib", "")),
        )
        if not said or said[-1] != now:
            said.append(now)
    return said


async def test_the_ib_link_is_not_known_while_tws_hangs_and_back_once_it_answers() -> None:
    async with FakeTws() as fake, desk(fake, **QUICK) as d:
        await d.broker.settle()
        assert link(d, "ib") == (L.LIVE, "")
        fake.freeze()
        await until(lambda: link(d, "api")[0] is L.DEGRADED, 3.0, "api DEGRADED")
        await until(lambda: link(d, "ib")[0] is L.DEGRADED, 1.0, "ib DEGRADED")
        detail = link(d, "ib")[1]
        assert detail.startswith(HUNG + "LIVE)"), detail
        assert "TWS says it again once it answers" in detail
        fake.thaw()
        await until(lambda: link(d, "api")[0] is L.LIVE, 3.0, "api LIVE again")
        assert link(d, "ib") == (L.LIVE, "")
        assert d.broker.state is L.LIVE
        assert fake.connects == 1
        said = await ib_details(d)
        assert [s for s, _ in said][-3:] == ["LIVE", "DEGRADED", "LIVE"], said


async def test_a_hang_under_1100_puts_back_what_tws_said() -> None:
    """TWS cut off from IB (1100) and then hung: the link says the 1100 was the last
    word, and reads it again once TWS answers (not LIVE: TWS has not said 1102)."""
    async with FakeTws() as fake, desk(fake, **QUICK) as d:
        await d.broker.settle()
        await fake.connectivity_lost()
        await until(lambda: link(d, "ib")[0] is L.DEGRADED, 2.0, "ib DEGRADED (1100)")
        cut_off = link(d, "ib")
        fake.freeze()
        await until(lambda: link(d, "ib")[1].startswith(HUNG), 3.0, "ib not known")
        assert "(as last heard: DEGRADED, " in link(d, "ib")[1]
        assert "1100" in link(d, "ib")[1]
        fake.thaw()
        await until(lambda: link(d, "api")[0] is L.LIVE, 3.0, "api LIVE again")
        assert link(d, "ib") == cut_off
        await fake.connectivity_restored()
        await until(lambda: link(d, "ib") == (L.LIVE, ""), 3.0, "ib LIVE after 1102")


async def test_a_hang_dropped_at_the_bound_says_the_link_as_heard_before_it() -> None:
    async with FakeTws() as fake, desk(fake, unanswered_reconnect_s=0.6, **QUICK) as d:
        await d.broker.settle()
        fake.wedge_readers()  # hung for good, as far as the desk hears
        await until(lambda: link(d, "ib")[1].startswith(HUNG), 3.0, "ib not known")
        await until(lambda: fake.connects == 2, 3.0, "a reconnect")
        await until(lambda: d.broker.state is L.LIVE, 5.0, "LIVE again")
        assert link(d, "ib") == (L.LIVE, "")
        said = await ib_details(d)
        dropped = [detail for state, detail in said if state == "DISCONNECTED"]
        assert dropped, said
        assert "(as last heard: LIVE)" in dropped[0], dropped
        assert "does not answer" not in dropped[0], dropped
