"""``vigil data``: build the real-sound training corpus from Debian packages.

``vigil data fetch [--out data/corpus] [--packages P ...] [--jobs 1]`` downloads, labels and
converts the sounds, then (unless ``--no-footage`` or ``--packages``) the real footage and
photographs, checked against ``footage.tsv``; ``vigil data stats`` prints counts per class, role
and split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models.corpus.manifest import DEFAULT_CORPUS_DIR, DEFAULT_MANIFEST


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-actions ``fetch`` and ``stats``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    f = sub.add_parser("fetch", help="download the packages and build the corpus folder and manifest")
    f.add_argument("--out", type=Path, default=DEFAULT_CORPUS_DIR, help="corpus folder (default data/corpus)")
    f.add_argument("--packages", nargs="+", metavar="P", help="only these packages (default: all sources)")
    f.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="manifest to pin from and update")
    f.add_argument(
        "--jobs", type=int, default=1, help="accepted for compatibility; packages run one at a time"
    )
    f.add_argument(
        "--no-footage",
        action="store_true",
        help="skip the real footage and photographs (models/corpus/footage.py, checked against footage.tsv)",
    )
    s = sub.add_parser("stats", help="print clip counts per class, role and split")
    s.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action."""
    if args.action == "fetch":
        from models.corpus.fetch import fetch

        rc = fetch(args.out, args.packages, args.manifest)
        if args.no_footage or args.packages:
            return rc
        from models.corpus.footage import main as footage_main

        return rc or footage_main(["--out", str(args.out), "--check"])
    from models.corpus.stats import main as stats_main

    return stats_main(["--manifest", str(args.manifest)])
