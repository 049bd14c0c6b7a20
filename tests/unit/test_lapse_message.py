"""What a desk says when its claims lapse (`Session.not_ready`, the ticket's problem, the
toast and Health): one clean sentence, the known cause first and no guess after it,
the guess only when no cause is known, then what to do; short enough for Health's
detail (`DETAIL_MAX`) whatever the cause (`REASON_MAX` at most)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.claims import REASON_MAX
from silvertine_tui.ui.widgets.health import DETAIL_MAX

BUS_WORDS = (
    "Redis at redis://127.0.0.1:16391 is unreachable (ConnectionError: Error 111 "
    "connecting to 127.0.0.1:16391.) while claiming drv:claim:paper"
)
"""A renewal's reason as `renewal_reason` keeps it: the bus's advice left out
(tests/unit/test_claims_renewal_reason.py)."""
GUESS = "the bus may be down, or this desk was held"


def lapsed(renew_error: str, *, down: bool = False) -> str:
    session = Session(Settings.model_validate({"engine": {"claim_ttl_s": 15.0}}))
    session.claims.renew_error = renew_error
    session.claims.renew_error_down = down
    session.bus.stats.connected = False
    return session._lapsed_message()


def test_a_known_cause_comes_first_in_one_clean_sentence() -> None:
    said = lapsed(BUS_WORDS)
    assert said.startswith("Redis at redis://127.0.0.1:16391 is unreachable"), said
    assert ".." not in said
    assert GUESS not in said
    assert "this desk could not renew its claim on its brokers for 7.5 s" in said
    assert said.endswith("Send again then; if another desk took a broker, trade from that desk")


def test_with_no_cause_known_the_guess_is_said() -> None:
    said = lapsed("")
    assert said.startswith("this desk could not renew its claim on its brokers for 7.5 s")
    assert GUESS in said


@pytest.mark.parametrize(("connected", "reconnected"), [(True, True), (True, False), (False, True)])
def test_a_bus_back_since_is_not_called_unreachable(connected: bool, reconnected: bool) -> None:
    """Back: connected again since the renewal failed. Connected alone is not back: a bus
    that has not noticed yet that Redis stopped answering (SIGSTOP) says connected."""
    session = Session(Settings.model_validate({"engine": {"claim_ttl_s": 15.0}}))
    session.claims.renew_error = BUS_WORDS
    session.claims.renew_error_down = True
    session.claims.renew_error_reconnects = 3
    session.bus.stats.reconnects = 4 if reconnected else 3
    session.bus.stats.connected = connected
    said = session._lapsed_message()
    if connected and reconnected:
        assert said.startswith("The bus was out of reach (Redis at"), said
        assert "it is back: nothing is sent until the claim is renewed, within 5 s" in said
    else:
        assert said.startswith("Redis at redis://127.0.0.1:16391 is unreachable"), said


@settings(max_examples=50, deadline=None)
@given(cause=st.text(min_size=1, max_size=REASON_MAX).filter(lambda t: t.strip(" .;")))
@example(cause="a..0")  # the cause's own dots, said capitalised at the start
def test_it_fits_healths_detail_whatever_the_cause(cause: str) -> None:
    said = lapsed(cause)
    assert len(said) <= DETAIL_MAX, len(said)
    own = cause.rstrip(" .")
    # The cause is said as it is, or capitalised where it leads the message: the dots
    # it holds are its own, not a stop doubled by the message around it.
    assert ".." not in said.replace(own, "").replace(own[:1].upper() + own[1:], "")
