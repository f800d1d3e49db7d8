"""The committed default model as it was before its last change, read from git history."""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path


def previous_default(path: Path) -> Path | None:
    """The committed default model as it was before its last change (from git), in a temp file."""
    try:
        revs = subprocess.run(
            ["git", "log", "-n", "2", "--format=%H", "--", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if len(revs) < 2:
            return None
        rel = subprocess.run(
            ["git", "ls-files", "--full-name", str(path)], capture_output=True, text=True, check=True
        ).stdout.strip()
        blob = subprocess.run(["git", "show", f"{revs[1]}:{rel}"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-")) / f"previous-{revs[1][:10]}.onnx"
    tmp.write_bytes(blob)
    return tmp


def add_baseline_argument(parser: argparse.ArgumentParser) -> None:
    """``--baseline``: the model a command compares with."""
    parser.add_argument(
        "--baseline",
        default="previous",
        help="model to compare with: 'previous' (the default model before its last commit), a path, or 'none'",
    )


def resolve_baseline(choice: str, model: Path) -> Path | None:
    """The baseline file for ``--baseline choice`` (None: none, or no earlier version in git)."""
    if choice == "none":
        return None
    if choice == "previous":
        return previous_default(model)
    return Path(choice)
