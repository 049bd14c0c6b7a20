"""Where the palette's Screenshot is saved, and what the trader is told about it.

Textual saves a screenshot (an SVG of the screen) in the user's download directory
(`~/Downloads`, or what `user-dirs.dirs` names) and says only "Failed to save
screenshot" when it cannot: on an SSH trading host there is seldom a Downloads
directory. The desk saves to the download directory when it exists, else to
`screenshots/` beside the log file (`$XDG_STATE_HOME/silvertine/screenshots` by
default), made when needed, and says where the file went, or why it is not there
and what to do.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from platformdirs import user_downloads_path

SCREENSHOTS = "screenshots"


def screenshot_dir(log_file: Path) -> Path:
    """The download directory when it exists, else `screenshots/` beside `log_file`."""
    downloads = user_downloads_path()
    if downloads.is_dir():
        return downloads
    return log_file.parent / SCREENSHOTS


def prepare(directory: Path) -> str:
    """Make `directory` if it is missing: "" when it is there, else why not and what to
    do, for a toast."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return (
            f"Screenshot not saved: cannot make the directory {directory} "
            f"({_reason(exc)}). Make it (a directory you may write to), or create your "
            "download directory (~/Downloads), which is used when it exists."
        )
    return ""


def saved(path: Path | None) -> str:
    return f"Saved screenshot to {path}" if path is not None else "Saved screenshot"


def failed(path: Path | None, exc: BaseException) -> str:
    target = f" to {path}" if path is not None else ""
    folder = f"{path.parent} " if path is not None else "the directory "
    return (
        f"Screenshot not saved{target}: {_reason(exc)}. Check that {folder}is a directory "
        "you may write to and that the disk has room."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def file_name(title: str, time_format: str | None = None) -> str:
    """`<title> <local time>.svg` with the characters a file name may not hold replaced,
    as Textual names its screenshots."""
    now = datetime.now()
    stamp = now.isoformat() if time_format is None else now.strftime(time_format)
    stem = f"{title} {stamp}"
    for reserved in ' <>:"/\\|?*.':
        stem = stem.replace(reserved, "_")
    return f"{stem}.svg"
