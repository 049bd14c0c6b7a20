"""Build adapters from config by type; third parties join via entry points.

Adapter modules are imported lazily, by name, when a config asks for their type: a
paper-only start never imports python-binance, aiohttp or ib_async. The installed
packages' entry points are read only when a type is not built in (reading them opens
every installed distribution's metadata: milliseconds at each start for nothing).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points

from ..bus import EventBus
from ..config import BrokerConfigBase
from .base import Broker, Clock
from .errors import ConfigurationError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "silvertine.brokers"

BrokerFactory = Callable[..., Broker]

# type -> "module:attribute", imported on first use
BUILTIN: dict[str, str] = {
    "paper": "silvertine_tui.brokers.paper:PaperBroker",
    "binance": "silvertine_tui.brokers.binance:BinanceBroker",
    "ib": "silvertine_tui.brokers.ib:IBBroker",
}


class BrokerRegistry:
    def __init__(self, builtin: dict[str, str] | None = None, *, discover: bool = True) -> None:
        self._targets: dict[str, str] = dict(BUILTIN if builtin is None else builtin)
        self._factories: dict[str, BrokerFactory] = {}
        self._discover = discover

    def _discover_entry_points(self) -> None:
        """Add the installed third-party adapters (once; built-in types win)."""
        if not self._discover:
            return
        self._discover = False
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._targets:
                log.warning("broker.entry_point_shadowed", extra={"type": ep.name})
                continue
            self._targets[ep.name] = ep.value

    def register(self, kind: str, factory: BrokerFactory) -> None:
        self._factories[kind] = factory

    @property
    def known(self) -> list[str]:
        self._discover_entry_points()
        return sorted({*self._targets, *self._factories})

    def factory(self, kind: str) -> BrokerFactory:
        if kind in self._factories:
            return self._factories[kind]
        if kind not in self._targets:
            self._discover_entry_points()
        target = self._targets.get(kind)
        if target is None:
            raise ConfigurationError(
                f"unknown broker type {kind!r}; known types: {', '.join(self.known)}. "
                f"Third-party adapters register in the {ENTRY_POINT_GROUP!r} entry-point group."
            )
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
            factory: BrokerFactory = getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(
                f"broker type {kind!r} ({target}) could not be loaded: {exc}"
            ) from exc
        self._factories[kind] = factory
        return factory

    def create(
        self, config: BrokerConfigBase, bus: EventBus, *, clock: Clock | None = None
    ) -> Broker:
        factory = self.factory(config.type)
        if clock is None:
            return factory(config, bus)
        return factory(config, bus, clock=clock)
