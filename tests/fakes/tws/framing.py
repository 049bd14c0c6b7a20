"""TWS API framing: a 4-byte big-endian length, then ASCII fields each ending in NUL.

The client opens with `b"API\\0"` and one length-prefixed version range (`v157..178`)
before any framed request; `FrameReader` handles that prefix, then splits frames into
field lists exactly as ib_async's `Client._onSocketHasData` does.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from decimal import Decimal

API_PREFIX = b"API\0"

Field = str | int | Decimal | bool | None


def field_text(value: Field) -> str:
    """One field as TWS writes it: bools as 1/0, Decimals without exponent, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def encode_frame(fields: Iterable[Field]) -> bytes:
    payload = "".join(field_text(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


def decode_payload(payload: bytes) -> list[str]:
    fields = payload.decode(errors="backslashreplace").split("\0")
    fields.pop()  # the trailing NUL leaves one empty element
    return fields


class FrameReader:
    """Incremental reader for the client side of a connection."""

    def __init__(self) -> None:
        self._data = b""
        self.greeted = False
        self.version_range = ""

    def feed(self, data: bytes) -> list[list[str]]:
        self._data += data
        frames: list[list[str]] = []
        if not self.greeted:
            if len(self._data) < len(API_PREFIX) + 4:
                return frames
            if not self._data.startswith(API_PREFIX):
                raise ValueError(f"not a TWS API client: {self._data[:8]!r}")
            size = struct.unpack(">I", self._data[4:8])[0]
            if len(self._data) < 8 + size:
                return frames
            self.version_range = self._data[8 : 8 + size].decode()
            self._data = self._data[8 + size :]
            self.greeted = True
        while len(self._data) >= 4:
            size = struct.unpack(">I", self._data[:4])[0]
            if len(self._data) < 4 + size:
                break
            frames.append(decode_payload(self._data[4 : 4 + size]))
            self._data = self._data[4 + size :]
        return frames


def parse_version_range(text: str) -> tuple[int, int]:
    """`v157..178` (maybe followed by connect options) -> (157, 178)."""
    versions = text.split(" ")[0].lstrip("v")
    low, _, high = versions.partition("..")
    return int(low), int(high or low)
