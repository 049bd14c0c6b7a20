"""Serve the fake TWS on a fixed port with a moving market, to drive the desk by hand.

    python -m tests.fakes.tws --port 17497

then, in another terminal:

    SILVERTINE_CONFIG=tests/fakes/tws/desk.yaml silvertine

The market is a seeded random walk of AAPL, ES (Dec 2026) and EUR.USD, three levels a
side, moved every `--every` seconds; working orders fill when it crosses them, as at IB.
With `--correct-after S`, IB corrects each execution S seconds after it (its price one
tick lower for a buy, higher for a sell), to see the desk take a correction.
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


async def _correct_executions(fake: FakeTws, after: float) -> None:
    """Each first report of an execution corrected `after` seconds later, one tick off."""
    seen: set[str] = set()
    while True:
        await asyncio.sleep(after)
        for execution in list(fake.exchange.executions):
            if execution.exec_id in seen or not execution.exec_id.endswith(".01"):
                continue
            seen.add(execution.exec_id)
            tick = execution.order.spec.min_tick
            better = -tick if execution.side == "BOT" else tick
            await fake.correct_execution(execution, price=str(execution.price + better))


async def _serve(fake: FakeTws, rng: random.Random, every: float, correct_after: float) -> None:
    tasks = [_walk(fake, rng, every)]
    if correct_after > 0:
        tasks.append(_correct_executions(fake, correct_after))
    await asyncio.gather(*tasks)


async def main() -> None:
    parser = walk_parser("python -m tests.fakes.tws", 17497)
    parser.add_argument("--delayed", action="store_true", help="serve delayed data only")
    parser.add_argument(
        "--correct-after", type=float, default=0.0, help="seconds until IB corrects a fill"
    )
    args = parser.parse_args()
    fake = FakeTws(
        cash={"USD": "100000"},
        market_data="delayed" if args.delayed else "live",
        check_funds=True,
    )
    await fake.start(args.port)
    print(f"fake TWS on 127.0.0.1:{fake.port}, account {fake.account}")
    await walk_until_stopped(_serve(fake, random.Random(args.seed), args.every, args.correct_after))
    await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
