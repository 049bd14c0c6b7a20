"""Commands packed by hiredis (C) instead of redis-py's asyncio packer (Python).

redis-py's *synchronous* connections pack commands with `hiredis.pack_command` when
hiredis is installed; its asyncio connections (8.1) always use a Python packer, which
the profile of the bus's writes shows as their largest single cost: about 60% of the
client time of a pipelined market data XADD, and the largest item of an awaited one.
`with_hiredis_packing` gives a connection class the C packer, as the synchronous client
has it.

The bytes on the wire are the same: anything hiredis does not pack exactly as redis-py
would (a command name holding a space, which redis-py splits into words; an argument
that is not str, bytes, int or float, which redis-py encodes or refuses with its own
error; an encoding other than strict UTF-8) goes to redis-py's own packer.
"""

from __future__ import annotations

from typing import Any

import hiredis  # a dependency: redis[hiredis]
from redis.asyncio.connection import AbstractConnection

_PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def with_hiredis_packing(cls: type[AbstractConnection]) -> type[AbstractConnection]:
    """A subclass of `cls` whose commands hiredis packs (one per class, made once)."""
    found = _PACKED.get(cls)
    if found is not None:
        return found
    stock_pack = cls.pack_command
    pack = hiredis.pack_command

    def pack_command(self: AbstractConnection, *args: Any) -> list[bytes]:
        first = args[0] if args else None
        encoder = self.encoder
        if (
            (first.__class__ is str and " " not in first)
            or (first.__class__ is bytes and b" " not in first)
        ) and (encoder.encoding == "utf-8" and encoder.encoding_errors == "strict"):
            try:
                return [pack(args)]
            except TypeError:  # bool, bytearray, None...: redis-py encodes or refuses
                pass
        return stock_pack(self, *args)

    pack_command.__doc__ = "Pack a command with hiredis (redis-py's packer for the rest)."
    packed = type(f"HiredisPacked{cls.__name__}", (cls,), {"pack_command": pack_command})
    _PACKED[cls] = packed
    return packed
