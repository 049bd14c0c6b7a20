"""Serve the fake TWS on a fixed port with a moving market, to drive the desk by hand.

    python -m tests.fakes.tws --port 17497

then, in another terminal:

    SILVERTINE_CONFIG=tests/fakes/tws/desk.yaml silvertine

The market is a seeded random walk of AAPL, ES (Dec 2026) and EUR.USD, three levels a
side, moved every `--every` seconds; working orders fill when it crosses them, as at IB.
Account DU123456, 100000 USD. It is a test tool: the product never talks to it unless
its config points there.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from tests.fakes.serve import walk_parser, walk_until_stopped
from tests.fakes.tws import FakeTws

MARKETS = {  # key at the fake -> (start mid, tick)
    "AAPL": (Decimal("150.00"), Decimal("0.01")),
    "ESZ6": (Decimal("6000.00"), Decimal("0.25")),
    "EUR.USD": (Decimal("1.08000"), Decimal("0.00005")),
}


def _levels(
    mid: Decimal, tick: Decimal, side: int, rng: random.Random
) -> list[tuple[Decimal, Decimal]]:
    return [(mid + side * tick * (2 + 4 * i), Decimal(rng.randint(1, 30))) for i in range(3)]


async def _walk(fake: FakeTws, rng: random.Random, every: float) -> None:
    mids = {key: spec[0] for key, spec in MARKETS.items()}
    while True:
        for key, (_, tick) in MARKETS.items():
            mids[key] += tick * rng.randint(-6, 6)
            mid = mids[key]
            bids, asks = _levels(mid, tick, -1, rng), _levels(mid, tick, 1, rng)
            await fake.set_quote(
                key,
                bids[0][0],
                asks[0][0],
                bid_size=bids[0][1],
                ask_size=asks[0][1],
                last=mid,
                deeper_bids=bids[1:],
                deeper_asks=asks[1:],
            )
        await asyncio.sleep(every)


async def main() -> None:
    parser = walk_parser("python -m tests.fakes.tws", 17497)
    parser.add_argument("--delayed", action="store_true", help="serve delayed data only")
    args = parser.parse_args()
    fake = FakeTws(
        cash={"USD": "100000"},
        market_data="delayed" if args.delayed else "live",
        check_funds=True,
    )
    await fake.start(args.port)
    print(f"fake TWS on 127.0.0.1:{fake.port}, account {fake.account}")
    await walk_until_stopped(_walk(fake, random.Random(args.seed), args.every))
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
