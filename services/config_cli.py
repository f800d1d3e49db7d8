"""``vigil config``: print the effective configuration (YAML + environment), secrets redacted."""

from __future__ import annotations

import argparse
import json
import sys

from streaming.config import ConfigError, load_config, redacted_dump


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vigil config``."""
    parser.add_argument("--config", help="YAML config file (default: $VIGIL_CONFIG)")
    parser.add_argument(
        "--reference", action="store_true", help="print the configuration reference (Markdown)"
    )


def run(args: argparse.Namespace) -> int:
    """Validate and print the configuration."""
    if args.reference:
        from streaming.config_doc import reference_markdown

        print(reference_markdown())
        return 0
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(redacted_dump(config), indent=2))
    return 0
