"""Performance benchmarks: `python -m benchmarks <command> [--json]`.

Each command lives in its own module and registers in `benchmarks.__main__.COMMANDS`.
"""
