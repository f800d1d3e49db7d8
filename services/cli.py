"""The ``vigil`` command. Each subcommand lives in its own module, imported only when used,
so ``vigil ingest`` never pays for (or needs) torch.

A subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "services.demo",
        "run ingest, fusion and alert in one process on a generated clip (no Kafka/Redis)",
    ),
    "ingest": ("services.ingest.cli", "decode cameras (RTSP/files) with PyAV and publish frames and audio"),
    "fusion": ("services.fusion.cli", "score audio-visual windows with the ONNX model"),
    "alert": ("services.alert.cli", "turn window scores into incidents delivered through Redis"),
    "alerts": ("services.alert.tail_cli", "subscribe to alerts (vigil alerts tail)"),
    "make-clip": ("services.clips", "generate an mp4 with picture and sound, optionally with incidents"),
    "train": ("models.cli_train", "train the audio-visual fusion model on generated data"),
    "export": ("models.cli_export", "export a trained checkpoint to ONNX with its contract"),
    "evaluate": (
        "services.evaluate.cli",
        "measure recall, false alarms per hour and alert delay on a folder of labelled clips",
    ),
    "calibrate": (
        "services.evaluate.calibrate_cli",
        "choose the alert policy for a false-alarm budget on labelled clips (cross-validated)",
    ),
    "bench": ("bench.cli", "run benchmarks (ratios against baselines measured in the same run)"),
    "config": ("services.config_cli", "print the effective configuration with secrets redacted"),
    "data": ("models.corpus.cli", "fetch and build the real-sound training corpus from Debian packages"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; loads only the module of ``only`` (or all, for --help listings)."""
    parser = argparse.ArgumentParser(
        prog="vigil", description="Vigil: streaming audio-visual surveillance analytics."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only == name:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vigil`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
