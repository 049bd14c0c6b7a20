"""The trading state a desk sets shows at once, and until its own risk event is read
back: with Redis unreachable that event only waits in memory, and a kill switch pulled
then must not read ACTIVE on the desk that pulled it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import TradingState
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.events import Risk, RiskAction, RiskEvent

ACTIONS = {
    TradingState.HALTED: RiskAction.KILL,
    TradingState.ACTIVE: RiskAction.RESUME,
    TradingState.REDUCE_ONLY: RiskAction.STATE,
}
states = st.sampled_from(list(ACTIONS))


def risk(state: TradingState) -> RiskEvent:
    return RiskEvent.create("engine", Risk(action=ACTIONS[state], trading_state=state))


@given(held=states, journal=st.lists(states, max_size=5), after=st.lists(states, max_size=3))
def test_a_held_state_shows_until_its_own_event_is_read_back(
    held: TradingState, journal: list[TradingState], after: list[TradingState]
) -> None:
    projection = DeskProjection()
    own = risk(held)
    projection.hold_state(own.event_id, held)
    assert projection.version == 1  # the desk redraws the state at once
    # Older states (another desk's, or this desk's before) read back meanwhile.
    for state in journal:
        projection.apply(risk(state), "0-1")
        assert projection.trading_state is held
    projection.apply(own, "0-2")
    assert projection.trading_state is held
    assert projection.journaled_state is held
    # Read back, the journal rules again.
    for state in after:
        projection.apply(risk(state), "0-3")
        assert projection.trading_state is state
