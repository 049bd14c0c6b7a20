"""Text for numbers, money, ages and times. Decimal in, str out; never floats for money."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from ..domain.clock import time_of_day
from ..domain.enums import TradingState
from ..domain.ids import short_id as short_id  # (the desk's one rule: domain/ids.py)
from ..domain.money import absurd, decimal_places, normalized, quantized, unsigned_zero

DASH = "-"
MAX_EXPONENT = 30


def places_of(step: Decimal | None) -> int | None:
    """Decimal places of a tick or lot size (0.01 -> 2, 1 -> 0); None when unknown."""
    return None if step is None else decimal_places(step)


def num(value: Decimal | None, places: int | None = None) -> str:
    """`12345.6` -> `12,345.6`; with `places`, rounded half-even to that many places."""
    if value is None:
        return DASH
    if absurd(value):
        return str(value)  # data no check caught: `1E+600000` (`domain.money.absurd`)
    if places is not None:
        return f"{rounded(value, places):,.{places}f}"
    normal = normalized(unsigned_zero(value))
    if normal == normal.to_integral():
        return f"{quantized(normal, Decimal(1)):,f}"
    return f"{normal:,f}"


def signed(value: Decimal | None, places: int | None = 2) -> str:
    """Money with an explicit sign: `+1,234.50`, `-3.20`, `0.00`."""
    if value is None:
        return DASH
    if places is not None:
        value = rounded(value, places)
    text = num(value, places)
    return f"+{text}" if value > 0 else text


def pct(value: Decimal | None, places: int = 2) -> str:
    """A change in percent with an explicit sign: `+1.25%`, `-0.40%`, and `0.00%` for
    one that rounds to nothing (never `-0.00%` nor `+0.00%`)."""
    if value is None:
        return DASH
    if absurd(value):
        return f"{value}%"
    value = rounded(value, places)
    return f"{'+' if value > 0 else ''}{value:,.{places}f}%"


def rounded(value: Decimal, places: int) -> Decimal:
    """`value` rounded half-even to `places`, a negative zero made zero: what a cell
    shows, and so what its sign and colour are taken from."""
    return unsigned_zero(quantized(value, Decimal(1).scaleb(-places)))


# Each control character as a visible one of the same width: C0 as its control picture
# (ESC as ␛), DEL as ␡, C1 and the bidirectional overrides as �; a tab, a carriage
# return and (on one line) a newline are a space. The newline is kept where the text
# has lines (`shown(text, lines=True)`).
_PICTURES: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20)}
_PICTURES[0x7F] = "\u2421"
_PICTURES.update({code: "\ufffd" for code in range(0x80, 0xA0)})
_PICTURES.update({code: "\ufffd" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_PICTURES.update({ord(space): " " for space in "\t\r\n"})
_ONE_LINE = str.maketrans(_PICTURES)
_LINES = str.maketrans({k: v for k, v in _PICTURES.items() if k != ord("\n")})


def shown(text: str, *, lines: bool = False) -> str:
    """`text` as the terminal may receive it: a venue's reason, a strategy's note, a
    symbol or a message read from the bus goes to the terminal as it is, and an escape
    sequence in it (`ESC[2J ESC[H`) cleared the screen and wrote over the desk. Every
    control character becomes a visible one of the same width (`_PICTURES`)."""
    if text.isprintable():  # (the newline, a tab, a control: not printable)
        return text
    return text.translate(_LINES if lines else _ONE_LINE)


LINE_MAX = 2_000
"""Characters kept of what one line or toast says: a message of a megabyte on the bus
took the desk 4 s to wrap into the Log pane's rows (10 s as an error's toast), every
key and quote waiting."""


TITLE_MAX = 200
"""Characters kept of a toast's title (`toast_title`)."""


def state_words(state: TradingState) -> str:
    """A trading state as the header says it: `REDUCE ONLY`, not the journal's
    `REDUCE_ONLY`."""
    return state.value.replace("_", " ")


ERROR_TITLE = "Error"
"""The title of the toast of an ERROR line read from the bus (ui/model.py), which says
nothing more of what it is about (the app leaves it out when a titled alert says the
same: `SilvertineApp._check_alerts`)."""


def toast_title(title: str) -> str:
    """A toast's title as the desk shows it (`SilvertineApp.notify`): cut to
    `TITLE_MAX`, control characters made visible. One toast answered by another is
    found by it (ui/widgets/toasts.py `dismiss_answered`)."""
    return shown(cut(title, TITLE_MAX))


def cut(text: str, limit: int = LINE_MAX, where: str = "the journal") -> str:
    """`text` up to `limit` characters, saying how many more `where` has."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters in {where})"


NUMBER_KEYS = r"[0-9.,_ ]*"
"""What a number field (the ticket's Qty, Price and Stop, the modify dialog's) takes from
the keyboard, as Textual's `Input(restrict=...)`: any other key (a desk key like `b`,
`s`, `x`, a letter typed by habit) rings the bell and does nothing, so it never lands
in a price by accident. `parse_decimal` reads what it lets through."""


class NotANumber(ValueError):
    """What a trader typed is not a number; the message says why, for the ticket."""


# Commas (or underscores) only between groups of three digits, as `num` prints them:
# `65,000.50`. The first group has no leading zero: `0,001` is nobody's thousands.
GROUPED = re.compile(r"[+-]?[1-9]\d{0,2}((,\d{3})+|(_\d{3})+)(\.\d*)?")


def parse_decimal(text: str) -> Decimal:
    """Parse what a trader types: `1,000.5`, ` 2 `, `1_000`.

    A comma or an underscore is read only as the thousands separator the desk prints.
    `1,5`, `0,001` (a decimal comma) and `0_01` are refused, not read as 15, 1 and 1:
    the number on the ticket is the number sent. Raises `NotANumber` saying why."""
    cleaned = text.strip()
    if "," in cleaned or "_" in cleaned:
        if not GROUPED.fullmatch(cleaned):
            what = "an underscore" if "," not in cleaned else "a comma"
            example = "1_000.5" if "," not in cleaned else "1,000.5"
            raise NotANumber(
                f"{cleaned!r} is not a number: {what} only separates thousands "
                f"({example}) and the decimals follow a point (1.5)"
            )
        cleaned = cleaned.replace(",", "").replace("_", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise NotANumber(f"{cleaned!r} is not a number") from None
    if not value.is_finite():
        raise NotANumber(f"{cleaned!r} is not a number")
    # A held-down key, not a price: 1e999999 is a typo.
    if value and value.adjusted() >= MAX_EXPONENT:
        raise NotANumber(
            f"{cleaned!r} is too large: at most {MAX_EXPONENT} digits before the point"
        )
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_EXPONENT:
        raise NotANumber(f"{cleaned!r} has too many decimals: at most {MAX_EXPONENT} places")
    return value


def age(seconds: float) -> str:
    """A short age: `0.4s`, `12s`, `3m05s`, `2h04m`."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


def clock_text(epoch_s: float) -> str:
    return time_of_day(epoch_s)


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""Month names as `when_text` writes them (not `%b`: the locale's)."""


def when_text(epoch_s: float, now_s: float, *, seconds: bool = True) -> str:
    """A time as the desk's clock says it (UTC, as the header): `14:30:01` when it is of
    today, else with its date, `Jan 02 14:30:01` (`Jan 02 14:30` without `seconds`),
    and of another year `2025-12-31 14:30:01`: a time of day alone made a signal of the
    day before read as one of a minute ago. `-` for a time no date can hold."""
    try:
        at = datetime.fromtimestamp(epoch_s, UTC)
        today = datetime.fromtimestamp(now_s, UTC).date()
    except (OverflowError, OSError, ValueError):
        return DASH
    clock = time_of_day(epoch_s)
    if at.date() == today:
        return clock
    if not seconds:
        clock = clock[:5]
    if at.year == today.year:
        return f"{MONTHS[at.month - 1]} {at.day:02d} {clock}"
    return f"{at.year:04d}-{at.month:02d}-{at.day:02d} {clock}"


def fit(text: str, width: int) -> str:
    """`text` in `width` columns. What does not fit is cut at a word's start and the
    cut marked " …": never part of a word, so never part of a number (cut inside
    "BUY 10 AAPL" the line says "BUY …", not "BUY 1"). A single word wider than the
    room is cut where it must, with "…"."""
    if len(text) <= width:
        return text
    if width < 2:
        return "…"[:width]
    head = text[: width - 2]  # room for " …"
    if text[width - 2] != " ":  # the cut falls inside a word: drop the word
        space = head.rfind(" ")
        if space <= 0:
            return text[: width - 1] + "…"
        head = head[:space]
    return head.rstrip() + " …"


def wrap(text: str, width: int, indent: int = 0) -> list[str]:
    """`text` in rows of `width` columns, broken between words, never inside one (a
    number is never split across rows); a word wider than a row is broken where it
    must. Rows after the first start `indent` columns in (under the text that follows
    a line's prefix)."""
    if len(text) <= width or width < 2:
        return [text]
    indent = indent if indent <= width // 2 else 0
    rows: list[str] = []
    row = ""
    for word in text.split(" "):
        if not word:
            continue
        room = width - indent if rows else width
        if row and len(row) + 1 + len(word) <= room:
            row = f"{row} {word}"
            continue
        if row:
            rows.append(row)
            room = width - indent
        while len(word) > room:
            rows.append(word[:room])
            word, room = word[room:], width - indent
        row = word
    if row:
        rows.append(row)
    pad = " " * indent
    return [rows[0], *(pad + r for r in rows[1:])]
