"""Serve the fake Binance on a fixed port with a moving market, to drive the desk by hand.

    python -m tests.fakes.binance --port 18080 --commission bnb

then, in another terminal (the fake's documented example key pair):

    BINANCE_API_KEY=... BINANCE_API_SECRET=... \\
      SILVERTINE_CONFIG=tests/fakes/binance/desk.yaml silvertine

The market is a seeded random walk of three levels a side per symbol, moved every
`--every` seconds; resting orders fill when it crosses them, as on the exchange. It is a
test tool: the product never talks to it unless its config points there.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from tests.fakes.binance import API_KEY, API_SECRET, Commission, FakeBinance, SymbolSpec
from tests.fakes.serve import walk_parser, walk_until_stopped

SYMBOLS = {
    "BTCUSDT": ("BTC", "USDT", Decimal("65000.00"), Decimal("0.01")),
    "ETHUSDT": ("ETH", "USDT", Decimal("3200.00"), Decimal("0.01")),
    "BNBUSDT": ("BNB", "USDT", Decimal("600.00"), Decimal("0.01")),
}


def _levels(mid: Decimal, tick: Decimal, side: int, rng: random.Random) -> list[tuple[str, str]]:
    return [
        (str(mid + side * tick * (5 + 10 * i)), str(Decimal(rng.randint(1, 40)) / 10))
        for i in range(3)
    ]


async def _walk(fake: FakeBinance, rng: random.Random, every: float) -> None:
    mids = {symbol: spec[2] for symbol, spec in SYMBOLS.items()}
    while True:
        for symbol, (_, _, _, tick) in SYMBOLS.items():
            mids[symbol] += tick * rng.randint(-40, 40)
            mid = mids[symbol]
            await fake.set_book(symbol, _levels(mid, tick, -1, rng), _levels(mid, tick, 1, rng))
            if rng.random() < 0.3:
                await fake.trade(symbol, mid, Decimal(rng.randint(1, 20)) / 100)
        await asyncio.sleep(every)


async def main() -> None:
    parser = walk_parser("python -m tests.fakes.binance", 18080)
    parser.add_argument(
        "--commission", choices=["received", "base", "quote", "bnb"], default="received"
    )
    args = parser.parse_args()
    # As Binance lists them: amendAllowed on every symbol (the tests' fakes leave it off).
    specs = [
        SymbolSpec(s, base, quote, amend_allowed=True) for s, (base, quote, _, _) in SYMBOLS.items()
    ]
    fake = FakeBinance(
        symbols=specs,
        balances={"USDT": "100000", "BTC": "1", "ETH": "10", "BNB": "50"},
        commission=Commission(mode=args.commission),
    )
    await fake.start(args.port)
    print(f"fake Binance on {fake.api_url} / {fake.ws_api_url} / {fake.stream_url}")
    print(f"BINANCE_API_KEY={API_KEY} BINANCE_API_SECRET={API_SECRET}")
    await walk_until_stopped(_walk(fake, random.Random(args.seed), args.every))
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
