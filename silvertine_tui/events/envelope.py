"""The envelope every event travels in."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field

from .ids import next_event_id


class EventBase(BaseModel):
    """Common envelope: `type`, schema version `v`, `event_id`, `ts` (ns), `source`.

    `source` names who the event concerns as `broker/account` (`paper/main`), or
    `broker` for market data, or a component (`engine`, `bus`). The bus routes on it.
    Subclasses set `type` as a Literal and `payload` to their model.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    SCHEMA_VERSION: ClassVar[int] = 1
    ok: ClassVar[bool] = True
    """A decoded event (`DecodeError` and `UnknownEvent` say False): `BusEntry.ok` reads
    it, as a class attribute, without a Python-level check per entry."""

    type: str
    v: int = 1
    event_id: str = Field(min_length=1)
    ts: int = Field(ge=0, description="nanoseconds since the epoch when the event was made")
    source: str = Field(min_length=1)
    payload: Any

    @classmethod
    def create(cls, source: str, payload: Any, *, ts: int | None = None) -> Self:
        """Make an event with a fresh id. `ts` overrides the clock (tests, replays)."""
        event_id, now = next_event_id()
        return cls(
            type=cls.model_fields["type"].default,
            event_id=event_id,
            ts=now if ts is None else ts,
            source=source,
            payload=payload,
            v=cls.SCHEMA_VERSION,
        )

    @property
    def broker(self) -> str:
        return self.source.partition("/")[0]

    @property
    def account(self) -> str:
        return self.source.partition("/")[2]
