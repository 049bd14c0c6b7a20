"""The mapping from Binance's error answers to our errors, code by code (no network;
the same mapping runs against the fake in test_binance_rest*.py)."""

from __future__ import annotations

import pytest

from silvertine_tui.brokers.binance.errors import (
    ApiError,
    CancelReplaceFailed,
    ClockOutOfSync,
    CredentialsRejected,
    FilterFailure,
    InvalidSymbol,
    banned_until_ms,
    map_api_error,
)
from silvertine_tui.brokers.errors import (
    BrokerError,
    BrokerTimeout,
    ConfigurationError,
    InsufficientFunds,
    NotConnected,
    OrderRejected,
    UnknownOrder,
)


@pytest.mark.parametrize(
    ("status", "code", "msg", "order", "expected", "retryable"),
    [
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", False,
         ClockOutOfSync, False),
        (400, -1022, "Signature for this request is not valid.", False, CredentialsRejected,
         False),
        (401, -2014, "API-key format invalid.", False, CredentialsRejected, False),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", True,
         CredentialsRejected, False),
        (400, -2010, "Account has insufficient balance for requested action.", True,
         InsufficientFunds, False),
        (400, -2010, "Order would immediately match and take.", True, OrderRejected, False),
        (400, -1013, "Filter failure: MARKET_LOT_SIZE", True, FilterFailure, False),
        (400, -2011, "Unknown order sent.", False, UnknownOrder, False),
        (400, -2013, "Order does not exist.", False, UnknownOrder, False),
        (400, -1121, "Invalid symbol.", False, InvalidSymbol, False),
        (503, -1007, "Timeout waiting for response from backend server.", True,
         BrokerTimeout, True),
        (503, -1007, "Timeout waiting for response from backend server.", False,
         NotConnected, True),
        (500, -1001, "Internal error; unable to process your request.", True, BrokerTimeout,
         True),
        (400, -1102, "Mandatory parameter 'quantity' was not sent.", True, OrderRejected,
         False),
        (400, -1102, "Mandatory parameter 'symbol' was not sent.", False, BrokerError, False),
    ],
)  # fmt: skip
def test_each_code_maps_to_what_the_trader_can_act_on(
    status: int,
    code: int,
    msg: str,
    order: bool,
    expected: type[BrokerError],
    retryable: bool,
) -> None:
    error = map_api_error(ApiError(status, code, msg), what="call", order=order)
    assert type(error) is expected
    assert error.code == code
    assert error.retryable is retryable
    assert f"code {code}" in str(error)
    assert str(error).startswith("call: ")


def test_a_refused_key_pair_is_a_configuration_error() -> None:
    error = map_api_error(ApiError(401, -2015, "Invalid API-key"), what="account")
    assert isinstance(error, ConfigurationError)


def test_a_filter_failure_explains_an_unknown_filter_too() -> None:
    error = map_api_error(ApiError(400, -1013, "Filter failure: NEW_FILTER"), what="order")
    assert isinstance(error, FilterFailure)
    assert error.filter == "NEW_FILTER"
    assert "breaks one of the symbol's rules" in str(error)


def test_cancel_replace_that_placed_the_new_order_but_kept_the_old() -> None:
    data = {"cancelResult": "FAILURE", "newOrderResult": "SUCCESS"}
    error = map_api_error(ApiError(409, -2021, "partially failed", data=data), what="replace")
    assert isinstance(error, CancelReplaceFailed)
    assert error.new_order_placed
    assert not error.cancelled
    assert "both may be working" in str(error)


def test_the_end_of_a_ban_is_read_from_binances_message() -> None:
    msg = "Way too much request weight used; IP banned until 1735689600000. Please use ..."
    assert banned_until_ms(msg) == 1735689600000
    assert banned_until_ms("Too much request weight used") is None
