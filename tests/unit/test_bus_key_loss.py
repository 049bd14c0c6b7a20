"""What a data loss covers (`bus.base.DataLoss`): the session re-seeds, reconciles and
carries the trading state forward only for what was lost, so these rules decide what
the desk writes into its journals after a loss."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.bus import StreamLayout
from silvertine_tui.bus.base import DataLoss

LAYOUT = StreamLayout("hb")
NAMES = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
CAPPED = st.sampled_from([LAYOUT.health, LAYOUT.signal]) | NAMES.map(LAYOUT.md)
RECOVERED = (
    st.just(LAYOUT.risk)
    | st.tuples(NAMES, NAMES).map(lambda p: LAYOUT.exec(*p))
    | st.tuples(NAMES, NAMES).map(lambda p: LAYOUT.snap(*p))
)
ANY_STREAM = CAPPED | RECOVERED


@given(st.lists(CAPPED, max_size=4), st.booleans())
def test_a_loss_of_capped_streams_alone_is_no_loss_of_a_journal(
    streams: list[str], restarted: bool
) -> None:
    loss = DataLoss("r", epoch=False, streams=streams, restarted=restarted)
    assert not loss.journal_lost(LAYOUT)


@given(st.lists(CAPPED, max_size=4), RECOVERED, st.lists(ANY_STREAM, max_size=4))
def test_a_lost_journal_risk_or_snapshot_stream_is_a_loss_of_a_journal(
    before: list[str], recovered: str, after: list[str]
) -> None:
    loss = DataLoss("r", epoch=False, streams=[*before, recovered, *after])
    assert loss.journal_lost(LAYOUT)
    assert loss.lost(recovered)


@given(st.lists(ANY_STREAM, max_size=4), ANY_STREAM)
def test_only_the_streams_named_are_lost_unless_the_epoch_is(
    streams: list[str], other: str
) -> None:
    loss = DataLoss("r", epoch=False, streams=streams)
    assert loss.lost(other) is (other in streams)
    whole = DataLoss("r", epoch=True, streams=streams)
    assert whole.lost(other)
    assert whole.journal_lost(LAYOUT)


@given(st.text(max_size=40), st.lists(ANY_STREAM, max_size=3), st.booleans())
def test_the_loss_is_its_reason_and_a_plain_reason_is_a_loss_of_everything(
    reason: str, streams: list[str], epoch: bool
) -> None:
    loss = DataLoss(reason, epoch=epoch, streams=streams)
    assert loss == reason
    assert DataLoss.of(loss) is loss
    plain = DataLoss.of(reason)
    assert plain == reason
    assert plain.epoch
    assert plain.lost(LAYOUT.exec("paper", "main"))
