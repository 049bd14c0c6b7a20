"""Request signing as Binance checks it (HMAC-SHA256 keys only).

REST: the signed payload is the raw query string concatenated, without a separator, to
the raw request body, minus the `signature` parameter (Binance `rest-api.md`, "SIGNED
Endpoint Examples"). The fake checks the bytes it received, so a client that signs one
string and sends another fails here as it would at Binance.

WebSocket API: the payload is the request's params sorted by name, `name=value` joined
with `&`, without `signature` (Binance `web-socket-api.md`, "SIGNED request example").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import unquote_plus


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def matches(secret: str, payload: str, signature: str) -> bool:
    """HMAC signatures are not case-sensitive at Binance."""
    return hmac.compare_digest(sign(secret, payload), signature.lower())


def rest_payload(query: str, body: str) -> tuple[str, str | None]:
    """The signed payload of a REST request and the signature it carried."""
    signature: str | None = None
    parts: list[str] = []
    for raw in (query, body):
        if not raw:
            continue
        kept: list[str] = []
        for piece in raw.split("&"):
            if piece.startswith("signature="):
                signature = unquote_plus(piece[len("signature=") :])
            else:
                kept.append(piece)
        parts.append("&".join(kept))
    return "".join(parts), signature


def ws_payload(params: Mapping[str, object]) -> str:
    return "&".join(
        f"{key}={_ws_value(value)}" for key, value in sorted(params.items()) if key != "signature"
    )


def _ws_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
