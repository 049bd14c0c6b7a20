"""The passwords a bus URL can carry, found and hidden by one rule: the config's
`BusConfig.redacted_url` and the Redis bus's `redact_url` (what the header, errors, the
health stream and the last-run file show) both use it, and the log registers what
`url_secrets` finds (`config.secret_values`). Here, below both, because the config may
not import the bus nor the bus the config (docs/architecture.md, Layers)."""

from __future__ import annotations

from urllib.parse import unquote, unquote_plus

HIDDEN = "***"


def _is_password_key(key: str) -> bool:
    """A query key redis-py may read a password from: `password`, `ssl_password` (the
    client key's passphrase on `rediss://`), any other holding "password", in any case
    and percent-encoded or not (redis-py decodes the key: `pass%77ord` is one)."""
    return "password" in unquote_plus(key).lower()


def _split(url: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, userinfo or "", host and path, query, fragment); None when `url` has
    no scheme. The userinfo ends at the last `@`: a password with `/`, `?` or `#` in it
    ended a URL parser's host early and was printed whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    userinfo = ""
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    return scheme, userinfo, rest, query, fragment


def userinfo_problem(url: str) -> bool:
    """Whether the userinfo of `url` (all before its last `@`, as `redact_url` splits
    it) holds `/`, `?`, `#` or another `@`: a user name or password written
    unencoded, which a URL parser (redis-py's) ends at the first of them, reading the
    rest of the password as the host (`redis://:Zx@localhost:1/q@10.9.9.9:6379/0` goes
    to `localhost:1`). The config refuses such a URL (`BusConfig`); `redact_url` hides
    such a userinfo whole."""
    parts = _split(url)
    return parts is not None and any(c in parts[1] for c in "/?#@")


def redact_url(url: str) -> str:
    """`url` with every password in it replaced by `***`: the userinfo's
    (`redis://user:***@host`) and each password query key's value
    (`?ssl_password=***`). A userinfo that cannot be split (a `/`, `?` or `#` in it)
    is hidden whole; so is the fragment of a URL with a password (redis-py ignores
    it: there it is the rest of a password cut at an unencoded `#`)."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, rest, query, fragment = parts
    if userinfo:
        if userinfo_problem(url):
            userinfo = HIDDEN
        elif ":" in userinfo:
            userinfo = f"{userinfo.partition(':')[0]}:{HIDDEN}"
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    query = "&".join(
        f"{key}{eq}{HIDDEN}" if eq and _is_password_key(key) else f"{key}{eq}{value}"
        for key, eq, value in pairs
    )
    if (userinfo, query) == (parts[1], parts[3]):
        return url  # no password in it: as written
    out = f"{scheme}://{f'{userinfo}@' if userinfo else ''}{rest}"
    if query:
        out += f"?{query}"
    if fragment:
        out += f"#{HIDDEN}"
    return out


def url_secrets(url: str) -> list[str]:
    """The passwords written in `url` (`redact_url` hides them), as written and as
    decoded: the log must never show either (`logsetup.register_secret`)."""
    parts = _split(url)
    if parts is None:
        return []
    _, userinfo, _, query, fragment = parts
    found: list[str] = []
    if userinfo:
        found.append(userinfo if userinfo_problem(url) else "")
        found.append(userinfo.partition(":")[2])
    for key, eq, value in (pair.partition("=") for pair in query.split("&") if query):
        if eq and _is_password_key(key):
            found.append(value)
    found.append(fragment)
    decoded = [unquote(value) for value in found] + [unquote_plus(value) for value in found]
    return list(dict.fromkeys(value for value in [*found, *decoded] if value))
