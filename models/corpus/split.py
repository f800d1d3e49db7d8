"""Leave-package-out split of the corpus: every package belongs to exactly one of train, val or
test (``split.tsv``, committed). Nothing of a test package is ever trained on."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from typing import Literal, cast

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
SPLIT_FILE = Path(__file__).with_name("split.tsv")


@cache
def split_table(path: Path = SPLIT_FILE) -> dict[str, Split]:
    """package -> split, from the committed table."""
    table: dict[str, Split] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            split = row["split"].strip()
            if split not in SPLITS:
                raise ValueError(f"{path}: package {row['package']!r} has split {split!r}")
            table[row["package"].strip()] = cast(Split, split)
    return table


def split_of(package: str) -> Split:
    """The split of ``package``; ``KeyError`` for a package the table does not list."""
    try:
        return split_table()[package]
    except KeyError:
        raise KeyError(f"package {package!r} is not in {SPLIT_FILE.name}; add it to one split") from None
