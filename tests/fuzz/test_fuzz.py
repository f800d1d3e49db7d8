"""Coverage-guided fuzzing of every decoder of untrusted bytes (atheris), bounded for CI.

Each harness under tests/fuzz/ feeds one decoder: record contracts (``fuzz_contracts``), the
alert stream and Pub/Sub parsers (``fuzz_alerts``) and configuration loading (``fuzz_config``).
An input may only succeed or raise the decoder's documented error; anything else is a bug.
Here every seed in ``tests/fuzz/corpus/<name>/`` (including inputs that once crashed) is
replayed, then each harness fuzzes for a few seconds from its seeds. ``make fuzz`` runs longer.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
HARNESSES = ("contracts", "alerts", "config")
FUZZ_SECONDS = 4


@pytest.mark.parametrize("name", HARNESSES)
def test_seed_corpus_decodes_or_raises_the_documented_error(name: str) -> None:
    check = importlib.import_module(f"tests.fuzz.fuzz_{name}").check
    seeds = sorted((HERE / "corpus" / name).iterdir())
    assert seeds, f"no seeds for {name}"
    for seed in seeds:
        check(seed.read_bytes())


@pytest.mark.parametrize("name", HARNESSES)
def test_fuzz_briefly(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(HERE / "corpus" / name, corpus)  # libFuzzer adds to its first corpus dir
    proc = subprocess.run(
        [
            sys.executable,
            str(HERE / f"fuzz_{name}.py"),
            f"-max_total_time={FUZZ_SECONDS}",
            "-rss_limit_mb=1024",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert proc.returncode == 0 and not crashes, (
        f"fuzz_{name} found a crash {crashes} (rc {proc.returncode}); add the input to "
        f"tests/fuzz/corpus/{name}/ once fixed:\n{proc.stderr[-4000:]}"
    )
