"""Request signing: Binance's documented HMAC-SHA256 examples, reproduced exactly by
python-binance (the signer the adapter uses) and by the fake's checker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from binance import AsyncClient

from tests.fakes.binance import API_KEY, API_SECRET, FakeBinance, signing
from tests.support.binance_rest import started_rest

# Binance spot API docs, rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order".
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
# Example 3: the same parameters split between the query string and the body.
DOC_MIXED_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
DOC_MIXED_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
DOC_MIXED_SIGNATURE = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as server:
        yield server


async def test_python_binance_reproduces_the_documented_signature() -> None:
    client = AsyncClient(DOC_KEY, DOC_SECRET)
    try:
        assert client._hmac_signature(DOC_QUERY) == DOC_SIGNATURE
        assert client._hmac_signature(DOC_MIXED_QUERY + DOC_MIXED_BODY) == DOC_MIXED_SIGNATURE
        # What python-binance signs for a request: k=v joined in the order it sends them
        # (sorted by name), `symbol` URL-quoted, the rest as given.
        params = dict(pair.split("=") for pair in DOC_QUERY.split("&"))
        ordered = "&".join(f"{k}={v}" for k, v in client._order_params(params))
        assert client._generate_signature(params) == client._hmac_signature(ordered)
    finally:
        await client.close_connection()


def test_the_fake_checks_the_documented_signature() -> None:
    assert (API_KEY, API_SECRET) == (DOC_KEY, DOC_SECRET)
    assert signing.sign(DOC_SECRET, DOC_QUERY) == DOC_SIGNATURE
    payload, signature = signing.rest_payload(f"{DOC_QUERY}&signature={DOC_SIGNATURE}", "")
    assert (payload, signature) == (DOC_QUERY, DOC_SIGNATURE)
    assert signing.matches(DOC_SECRET, payload, DOC_SIGNATURE.upper())  # not case-sensitive
    mixed = signing.rest_payload(DOC_MIXED_QUERY, f"{DOC_MIXED_BODY}&signature=x")
    assert mixed == (DOC_MIXED_QUERY + DOC_MIXED_BODY, "x")
    assert signing.sign(DOC_SECRET, mixed[0]) == DOC_MIXED_SIGNATURE
    assert not signing.matches(DOC_SECRET, DOC_QUERY, DOC_MIXED_SIGNATURE)


async def test_signed_calls_of_the_rest_layer_pass_the_fakes_check(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        assert (await rest.account())["balances"]  # GET: signed query string
        placed = await rest.new_order(  # POST: signed form body
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.1",
                "price": "99",
                "newClientOrderId": "signed-1",
            }
        )
        assert placed["clientOrderId"] == "signed-1"
        assert (await rest.cancel_order("BTCUSDT", "signed-1"))["status"] == "CANCELED"
