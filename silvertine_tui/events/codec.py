"""Encode events to Redis stream field maps and decode them back.

Wire form (all values UTF-8): `t` type, `v` schema version, `id` event id,
`ts` ns timestamp, `src` source, `p` the payload as JSON with Decimals as strings.
Decoding never raises: bad entries come back as `UnknownEvent` or `DecodeError`
values for the consumer to count and show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from pydantic import TypeAdapter, ValidationError

from ..domain.trusted import (
    build_trusted,
    new_model,
    set_dict,
    set_extra,
    set_fields_set,
    set_private,
)
from .envelope import EventBase
from .kinds import EVENT_TYPES, Event

FieldMap = dict[bytes, bytes]

_PAYLOAD_ADAPTERS: dict[str, tuple[type[EventBase], TypeAdapter[Any]]] = {
    name: (cls, TypeAdapter(cast(Any, cls.model_fields["payload"].annotation)))
    for name, cls in EVENT_TYPES.items()
}


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A well-formed envelope of a type (or newer version) this build does not know."""

    type: str
    v: int
    event_id: str
    ts: int
    source: str
    payload: bytes

    ok: ClassVar[bool] = False  # not an event this build can use (see `EventBase.ok`)

    @property
    def known_version(self) -> int | None:
        """The schema version this build reads of its type when it knows the type (the
        entry then is of a newer version: a newer Silvertine wrote it); None when the
        type is unknown here."""
        known = EVENT_TYPES.get(self.type)
        return known.SCHEMA_VERSION if known is not None else None


@dataclass(frozen=True, slots=True)
class DecodeError:
    """An entry that could not be decoded; `reason` says why (no secrets: it is data)."""

    reason: str
    fields: dict[str, str] = field(default_factory=dict)

    ok: ClassVar[bool] = False


Decoded = Event | UnknownEvent | DecodeError


def encode(event: EventBase) -> FieldMap:
    payload = event.payload
    body = payload.model_dump_json(exclude_none=True).encode()
    return {
        b"t": event.type.encode(),
        b"v": str(event.v).encode(),
        b"id": event.event_id.encode(),
        b"ts": str(event.ts).encode(),
        b"src": event.source.encode(),
        b"p": body,
    }


def _preview(fields: Mapping[Any, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in list(fields.items())[:8]:
        key = k.decode(errors="replace") if isinstance(k, bytes | bytearray) else str(k)
        val = v.decode(errors="replace") if isinstance(v, bytes | bytearray) else str(v)
        out[key] = val[:200]
    return out


def _as_bytes_map(fields: Mapping[Any, Any]) -> Mapping[bytes, Any]:
    if b"t" in fields:
        return fields
    return {(k.encode() if isinstance(k, str) else bytes(k)): v for k, v in fields.items()}


def _as_text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)


_REQUIRED = (b"t", b"v", b"id", b"ts", b"src", b"p")
_SEQUENCES = (list, tuple)  # a tuple: `list | tuple` would be rebuilt on every call
_FIELDS_SET = frozenset({"type", "v", "event_id", "ts", "source", "payload"})
# Per wire type: its name, class, the payload's core validator (called directly: the
# TypeAdapter wrapper costs ~0.4 us) and the versions the short path takes, as their
# wire bytes (`b"1"` -> 1). Any other spelling or version goes the careful way, which
# reads it with `int()` and names what is wrong or unknown.
# (the validator is pydantic's SchemaValidator, or its plugin wrapper when plugins run)
_WireType = tuple[str, type[EventBase], Any, dict[bytes, int]]
_DEFERRED: dict[bytes, tuple[str, type[EventBase], TypeAdapter[Any], dict[bytes, int]]] = {
    name.encode(): (
        name,
        cls,
        adapter,
        {str(v).encode(): v for v in range(1, cls.SCHEMA_VERSION + 1)},
    )
    for name, (cls, adapter) in _PAYLOAD_ADAPTERS.items()
}
_BY_WIRE_TYPE: dict[bytes, _WireType] = {}
"""The wire types decoded so far, each with its built validator (`_wire_type`)."""
_NO_TYPE: Any = (None, None, None, {})  # an unknown type: no version is taken


def _wire_type(kind_raw: bytes) -> _WireType:
    """A wire type's entry, its payload validator built on first use (`_NO_TYPE` for a
    type this build does not know).

    The payload models defer their build (start-up), so until a model has been built
    its adapter's `validator` is pydantic's stand-in (`MockValSer`), which rebuilds the
    adapter and looks the method up again on *every* call: about 1 us an entry, a
    third of replay's decoding. The entry keeps the built validator instead."""
    deferred = _DEFERRED.get(kind_raw)
    if deferred is None:
        return cast(_WireType, _NO_TYPE)
    name, cls, adapter, versions = deferred
    adapter.rebuild(_types_namespace={})  # the payload models resolve in their modules
    known: _WireType = (name, cls, adapter.validator, versions)
    _BY_WIRE_TYPE[kind_raw] = known
    return known


_new = new_model
_set_dict = set_dict  # the slot itself: no attribute lookup
_set_fields_set = set_fields_set
_set_extra = set_extra
_set_private = set_private


def decode(fields: Mapping[Any, Any]) -> Decoded:
    """Decode a stream entry (bytes or str keys). Never raises.

    The common case (bytes keys, a known type, a valid payload) takes `decode_flat`'s
    short path; anything unusual goes through `_decode_careful`, which names the
    problem.
    """
    try:
        flat = [
            b"t",
            fields[b"t"],
            b"v",
            fields[b"v"],
            b"id",
            fields[b"id"],
            b"ts",
            fields[b"ts"],
            b"src",
            fields[b"src"],
            b"p",
            fields[b"p"],
        ]
    except Exception:
        return _decode_careful(fields)
    found = decode_flat(flat)
    if found.__class__ is DecodeError or found.__class__ is UnknownEvent:
        return _decode_careful(fields)  # again, to show the entry's own fields
    return found


def decode_flat(flat: Sequence[Any]) -> Decoded:
    """Decode a raw XRANGE/XREAD field list `[k1, v1, k2, v2, ...]`. Never raises.

    Entries we wrote (a list of their six fields in `encode`'s order, a known type and
    version, a valid payload) take the short path below; anything else is decoded as a
    mapping by `_decode_careful`, which names what is wrong.

    The short path makes every check of the careful one (known type and version,
    non-empty id and source, a non-negative integer ts, the payload through its full
    validator); only the envelope is not re-validated by pydantic: it is built
    directly, with pydantic's own slots and a fresh `__dict__`, as `model_construct`
    does minus its per-field default handling. This is replay's hot loop, so it is one
    function with the steps written out (one call fewer an entry: about 2% of the
    decode loop's CPU).
    """
    if flat.__class__ is list and len(flat) == 12:
        k_t, kind_raw, k_v, v_raw, k_id, id_raw, k_ts, ts_raw, k_src, src_raw, k_p, raw = flat
        if (k_t, k_v, k_id, k_ts, k_src, k_p) == _REQUIRED:
            try:
                known = _BY_WIRE_TYPE.get(kind_raw)
                kind, cls, validator, versions = known or _wire_type(kind_raw)
                v = versions.get(v_raw)
                stamp = int(ts_raw)
                event_id = id_raw.decode()
                source = src_raw.decode()
                if v is not None and event_id and source and stamp >= 0:
                    payload = validator.validate_json(raw)
                    event: Any = _new(cls)
                    _set_dict(
                        event,
                        {
                            "type": kind,
                            "v": v,
                            "event_id": event_id,
                            "ts": stamp,
                            "source": source,
                            "payload": payload,
                        },
                    )
                    _set_fields_set(event, set(_FIELDS_SET))
                    _set_extra(event, None)
                    _set_private(event, None)
                    built: Event = event
                    return built
            except Exception:  # the careful path names it
                pass
    if not isinstance(flat, _SEQUENCES):
        return DecodeError(f"entry has no field list (got {type(flat).__name__})")
    try:
        return _decode_careful(dict(zip(flat[::2], flat[1::2], strict=True)))
    except Exception as exc:
        return DecodeError(f"{type(exc).__name__}: {exc}"[:300])


def _build(
    cls: type[EventBase], kind: str, v: int, event_id: str, ts: int, source: str, payload: Any
) -> Any:
    """Make the envelope without re-validating it (the careful path's builder;
    `decode_flat` inlines the same steps): every field was checked by the caller and
    the payload by its own validator."""
    return build_trusted(
        cls,
        {
            "type": kind,
            "v": v,
            "event_id": event_id,
            "ts": ts,
            "source": source,
            "payload": payload,
        },
        set(_FIELDS_SET),
    )


def _decode_careful(fields: Mapping[Any, Any]) -> Decoded:
    try:
        entry = _as_bytes_map(fields)
        missing = [k.decode() for k in _REQUIRED if entry.get(k) is None]
        if missing:
            return DecodeError(f"missing field(s): {', '.join(missing)}", _preview(fields))
        kind_raw = entry[b"t"]
        kind_raw = kind_raw.encode() if isinstance(kind_raw, str) else bytes(kind_raw)
        event_id = _as_text(entry[b"id"])
        source = _as_text(entry[b"src"])
        body = entry[b"p"]
        raw = body.encode() if isinstance(body, str) else bytes(body)
        try:
            v = int(entry[b"v"])
            stamp = int(entry[b"ts"])
        except ValueError:
            return DecodeError("v and ts must be integers", _preview(fields))
        kind, cls, validator, _ = _BY_WIRE_TYPE.get(kind_raw) or _wire_type(kind_raw)
        if cls is None or v > cls.SCHEMA_VERSION:
            return UnknownEvent(kind_raw.decode(), v, event_id, stamp, source, raw)
        if not event_id or not source or stamp < 0 or v < 1:
            return DecodeError(
                f"{kind}: empty event id or source, or negative ts or version", _preview(fields)
            )
        try:
            payload = validator.validate_json(raw)
        except ValidationError as exc:
            first = exc.errors(include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            return DecodeError(f"{kind}: {where}: {first['msg']}", _preview(fields))
        event: Event = _build(cls, kind, v, event_id, stamp, source, payload)
        return event
    except Exception as exc:  # a consumer must never die on bad data
        return DecodeError(f"{type(exc).__name__}: {exc}"[:300], _preview(fields))
