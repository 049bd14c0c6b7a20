"""IB's api link's client ids as health metrics: written by the adapter
(`brokers/ib/session.py`), read by the Health pane (`ui/widgets/health.py`), so that
neither reads the other's English.

IB lets only the client id that placed an order change it; a desk on a fallback id
(TWS answered 326 for its own) cannot modify or cancel the orders under its other id.
The metrics: `client_id` (the id the socket is on), `client_id_configured`,
`client_id_home` (the id the session moves back to; absent: it stays), and
`client_id_in_use:<id>` / `client_id_orders:<id>` (True) for each id TWS said is in use
and each id a working order of this desk is under."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

IN_USE = "client_id_in_use"
ORDERS = "client_id_orders"
KEYS = frozenset({"client_id", "client_id_configured", "client_id_home"})
PREFIXES = (f"{IN_USE}:", f"{ORDERS}:")


@dataclass(frozen=True, slots=True)
class ClientIds:
    """The client ids the api link is about: the one the socket is on (`current`, or
    its last connect tried), the configured one, the desk's ids TWS last answered 326
    for (`in_use`), the ids this desk's working orders are under (`orders`, `current`
    among them when one works there) and the id the session moves back to once TWS
    frees it (`home`; None when it stays where it is)."""

    current: int
    configured: int
    in_use: frozenset[int] = frozenset()
    orders: frozenset[int] = frozenset()
    home: int | None = None

    def metrics(self) -> dict[str, int | bool]:
        found: dict[str, int | bool] = {
            "client_id": self.current,
            "client_id_configured": self.configured,
        }
        if self.home is not None:
            found["client_id_home"] = self.home
        for client_id in sorted(self.in_use):
            found[f"{IN_USE}:{client_id}"] = True
        for client_id in sorted(self.orders):
            found[f"{ORDERS}:{client_id}"] = True
        return found

    def others(self) -> list[int]:
        """The ids other than the one the socket is on that `about` names."""
        named = set(self.orders)
        if self.current != self.configured and self.configured in self.in_use:
            named.add(self.configured)
        staying = bool(self.orders - {self.current}) and self.current in self.orders
        if self.home is not None and not staying:
            named.add(self.home)
        return sorted(named - {self.current})

    def about(self) -> list[str]:
        """What qualifies the LIVE api link's client id (the link's detail joins them
        with `; ` after the id; the Health pane says the same)."""
        parts: list[str] = []
        if self.current != self.configured and self.configured in self.in_use:
            parts.append(f"client id {self.configured} is in use at TWS (326)")
        left = sorted(self.orders - {self.current})
        if left:
            names = ", ".join(str(i) for i in left)
            parts.append(
                f"orders of this desk under client id {names} cannot be changed from "
                "here (cancel them with the kill switch, cancel all, or in TWS)"
            )
            if self.current in self.orders:
                parts.append(
                    f"staying while an order of this desk works under client id {self.current}"
                )
            elif self.home is not None:
                parts.append(f"moving back to client id {self.home} once TWS frees it")
        elif self.home is not None:
            parts.append(f"moving back to client id {self.home} once TWS frees it")
        return parts


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def client_ids_of(metrics: Mapping[str, object]) -> ClientIds | None:
    """The api link's client ids from a health event's metrics; None when it carries
    none (another broker, or a desk of an older build)."""
    current = _int(metrics.get("client_id"))
    configured = _int(metrics.get("client_id_configured"))
    if current is None or configured is None:
        return None
    in_use: set[int] = set()
    orders: set[int] = set()
    for key, value in metrics.items():
        kind, _, suffix = key.partition(":")
        if value is not True or kind not in (IN_USE, ORDERS):
            continue
        try:
            client_id = int(suffix)
        except ValueError:
            continue  # not a client id: another build's or a garbled key
        (in_use if kind == IN_USE else orders).add(client_id)
    return ClientIds(
        current=current,
        configured=configured,
        in_use=frozenset(in_use),
        orders=frozenset(orders),
        home=_int(metrics.get("client_id_home")),
    )
