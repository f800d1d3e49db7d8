"""``vigil bench NAME [ARGS...]``: run one benchmark (or ``all``) from ``bench/bench_<name>.py``.

Each benchmark module has ``main(argv: list[str]) -> int``; it is imported only when asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = ("kafka", "ingest", "model", "fusion", "e2e", "evaluate")
LONG_BENCHMARKS = ("soak",)  # half an hour by default: only when asked for by name, never in 'all'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``vigil bench`` arguments: which benchmark, then its own arguments."""
    parser.add_argument(
        "name",
        choices=(*BENCHMARKS, *LONG_BENCHMARKS, "all"),
        help="benchmark to run ('all': every one but soak)",
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")


def _load(name: str) -> object | None:
    try:
        return importlib.import_module(f"bench.bench_{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bench.bench_{name}":
            raise
        return None


def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmark(s); the exit status is the worst of theirs."""
    names = BENCHMARKS if args.name == "all" else (args.name,)
    status = 0
    for name in names:
        module = _load(name)
        if module is None:
            print(f"bench {name}: not available (bench/bench_{name}.py missing)", file=sys.stderr)
            status = status or (2 if args.name != "all" else 0)
            continue
        if len(names) > 1:
            print(f"== bench {name} ==", flush=True)
        status = max(status, int(module.main(list(args.args) if len(names) == 1 else [])))  # type: ignore[attr-defined]
    return status
