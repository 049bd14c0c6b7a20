"""A cancel report says each reason once: orders that share one are named by their
short ids before it (IB review item 7: with TWS down, a cancel all's report said the
same ~300-character reason once per order, a Log entry of 25+ lines at 80x24)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain.ids import new_client_order_id, short_id
from silvertine_tui.engine.cancels import CancelReport, KillReport

REASONS = (
    "NotConnected: ib/DU123456 is DISCONNECTED (no TWS listening): nothing was sent",
    "OrderRejected: placed by client id 1; IB lets only client id 1 change it",
    "RateLimited: the venue's rate limit holds its cancel",
)
# A reason that names its order: shared when only the id differs.
NAMED = "BrokerTimeout: no answer from TWS to the cancel of {}; asking TWS for the order"

IDS = [new_client_order_id() for _ in range(12)]
assert len({short_id(c) for c in IDS}) == len(IDS)


@given(
    st.lists(
        st.tuples(st.sampled_from(IDS), st.integers(0, len(REASONS))),
        min_size=1,
        max_size=12,
        unique_by=lambda pair: pair[0],
    )
)
def test_each_reason_is_said_once_and_each_order_is_named(pairs: list[tuple[str, int]]) -> None:
    still = {
        cid: NAMED.format(cid) if pick == len(REASONS) else REASONS[pick] for cid, pick in pairs
    }
    summary = KillReport(CancelReport(still_working=still)).summary()
    by_reason: dict[str, list[str]] = {}
    for cid, why in still.items():
        by_reason.setdefault(why.replace(cid, "{}"), []).append(cid)
    assert f" {len(still)} still working: " in summary
    for shape, cids in by_reason.items():
        if len(cids) == 1:
            [cid] = cids
            assert f"{cid} ({still[cid]})" in summary, summary
        else:
            said = shape.replace("{}", "each")
            assert summary.count(said) == 1, summary
            assert f"{', '.join(short_id(c) for c in cids)} ({said})" in summary, summary
            assert not any(c in summary for c in cids), summary
    for reason in REASONS:
        assert summary.count(reason) <= 1, summary
    assert summary.count("Cancel them at the venue or try cancel all again.") == 1


def test_one_order_keeps_its_whole_id_and_words() -> None:
    cid = IDS[0]
    report = CancelReport(still_working={cid: REASONS[1]})
    assert report.summary() == (
        f"cancelled 0 order(s). 1 still working: {cid} ({REASONS[1]}). "
        "Cancel them at the venue or try cancel all again."
    )
