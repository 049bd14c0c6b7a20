"""`Capabilities.modify_in_place`: at a venue that places changes anew (Binance's
cancelReplace), a smaller quantity alone is amended in place all the same where the
venue amends that (`amend_quantity_down`: Binance's order amend keepPriority); every
change is in place where changes are not placed anew (IB, the paper venue).

Before, the dialog judged every change at Binance by `modify_places_anew` alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Capabilities, ModifyStyle

FIELDS = ("quantity", "limit_price", "stop_price")
BINANCE = Capabilities(modify=ModifyStyle.CANCEL_REPLACE, amend_quantity_down=True)


@given(touched=st.sets(st.sampled_from(FIELDS), min_size=1), smaller=st.booleans())
def test_only_a_smaller_quantity_alone_is_in_place_at_binance(
    touched: set[str], smaller: bool
) -> None:
    assert BINANCE.modify_in_place(touched, smaller=smaller) is (
        smaller and touched == {"quantity"}
    )
    assert (
        Capabilities(modify=ModifyStyle.CANCEL_REPLACE).modify_in_place(touched, smaller=smaller)
        is False
    )
    assert Capabilities().modify_in_place(touched, smaller=smaller) is True
