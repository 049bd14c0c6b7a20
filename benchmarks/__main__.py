"""`python -m benchmarks <command> [options] [--json]`.

To add a command: write `benchmarks/<name>.py` exposing `COMMAND = Command(...)` (see
`benchmarks._cli.Command`) and add one line to `COMMANDS` below. Only the chosen
command's module is imported, so a heavy one (the UI) costs nothing to the others.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence

from ._cli import Command, render_flat

# name -> (module, one-line help shown by `python -m benchmarks --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "bus": ("benchmarks.bus", "event bus: raw redis-py vs RedisBus vs MemoryBus, latency, replay"),
    "ui": ("benchmarks.ui", "the app on a 120x36 pty under a 10,000 quotes/s firehose"),
    "paper": ("benchmarks.paper", "paper simulator: book updates with resting orders, orders"),
    "paper_restore": (
        "benchmarks.paper_restore",
        "paper venue rebuilt from a long journal on Redis: time and RSS vs plain replay",
    ),
    "engine": ("benchmarks.engine", "engine: order round trip, recovery from the journal"),
    "idle": ("benchmarks.idle", "the default desk left idle on a pty: RSS at 5 min and at the end"),
}


def load(name: str) -> Command:
    module_name, _ = COMMANDS[name]
    command = getattr(importlib.import_module(module_name), "COMMAND", None)
    if not isinstance(command, Command):
        raise TypeError(f"{module_name} must define COMMAND = benchmarks._cli.Command(...)")
    return command


def build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Silvertine performance benchmarks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    loaded: dict[str, Command] = {}
    for name, (_, help_text) in COMMANDS.items():
        cmd_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            loaded[name] = command = load(name)
            command.add_arguments(cmd_parser)
            cmd_parser.add_argument(
                "--json",
                action="store_true",
                help="print exactly one JSON object on stdout (progress goes to stderr)",
            )
    return parser, loaded


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While a command runs, anything written to stdout (a stray print in the code under
    test, a child process) goes to stderr: stdout carries only the result."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout (embedded, captured): Python-level only
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, loaded = build_parser(args_list)
    args = parser.parse_args(args_list)
    command = loaded[args.command]
    with stdout_to_stderr():
        result = command.run(args)
    if args.json:
        sys.stdout.write(json.dumps(result, allow_nan=False) + "\n")
    else:
        sys.stdout.write((command.render or render_flat)(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
