"""Stream names under one prefix, and which stream each event goes to."""

from __future__ import annotations

from dataclasses import dataclass

from ..events import CHANNELS, Channel, EventBase


@dataclass(frozen=True, slots=True)
class StreamLayout:
    """`{prefix}:exec:{broker}:{account}` is the journal of one account (orders, fills,
    positions, balances, reconciles in causal order); `{prefix}:md:{broker}` market data;
    `{prefix}:health` health and log; `{prefix}:signal` inbound signals; `{prefix}:risk`
    trading-state changes and risk rejects (kept like the journal);
    `{prefix}:snap:{broker}:{account}` snapshots; `{prefix}:epoch` the restart marker;
    `{prefix}:deadletter` entries Redis refused while the outage backlog was written;
    `{prefix}:claim:{broker}` (string key) which desk drives a broker, and so writes
    its market data and its accounts' journals (`engine.claims`), with its copy
    `{prefix}:claim:{broker}:copy` (set, renewed and released with it: a key deleted by
    another hand frees nothing) and, while a desk starting on a Redis that may have lost
    claims takes it pending, its marker `{prefix}:claim:{broker}:pending` (both in the
    Redis bus's claim scripts, `_CLAIM` and `_RELEASE`).
    """

    prefix: str = "silvertine"

    def exec(self, broker: str, account: str) -> str:
        return f"{self.prefix}:exec:{broker}:{account}"

    def md(self, broker: str) -> str:
        return f"{self.prefix}:md:{broker}"

    def snap(self, broker: str, account: str) -> str:
        return f"{self.prefix}:snap:{broker}:{account}"

    @property
    def health(self) -> str:
        return f"{self.prefix}:health"

    @property
    def signal(self) -> str:
        return f"{self.prefix}:signal"

    @property
    def risk(self) -> str:
        return f"{self.prefix}:risk"

    @property
    def dead_letter(self) -> str:
        """Entries Redis refused to journal, kept with the error (see RedisBus)."""
        return f"{self.prefix}:deadletter"

    def claim(self, broker: str) -> str:
        return f"{self.prefix}:claim:{broker}"

    @property
    def epoch_key(self) -> str:
        return f"{self.prefix}:epoch"

    def channel_of(self, stream: str) -> Channel | None:
        rest = stream.removeprefix(f"{self.prefix}:")
        if rest == stream:
            return None
        head = rest.partition(":")[0]
        try:
            return Channel(head)
        except ValueError:
            return None

    def is_journal(self, stream: str) -> bool:
        """Journals are trimmed only by age behind a snapshot, never by length."""
        return self.channel_of(stream) in (Channel.EXECUTION, Channel.RISK)

    def route(self, event: EventBase) -> str:
        channel = CHANNELS.get(event.type)
        broker, _, account = event.source.partition("/")
        if channel is Channel.MARKET_DATA:
            return self.md(broker)
        if channel is Channel.EXECUTION:
            return self.exec(broker, account or "default")
        if channel is Channel.SIGNAL:
            return self.signal
        if channel is Channel.RISK:
            return self.risk
        if channel is Channel.SNAPSHOT:
            return self.snap(broker, account or "default")
        return self.health
