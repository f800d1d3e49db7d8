"""Reproducible installs: the lock files (requirements/*.txt) are what pyproject.toml resolves to,
every pin carries its hashes, and make installs from them, never from pyproject's ranges."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("run", "fusion", "dev")


def pins(lock: Path) -> dict[str, list[str]]:
    """package -> its hashes, from a `uv pip compile --generate-hashes` file."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in lock.read_text().splitlines():
        if m := re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line):
            current = m.group(1).lower()
            found[current] = []
        elif m := re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line):
            found[current].append(m.group(1))
    return found


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_has_hashes(name: str) -> None:
    table = pins(ROOT / "requirements" / f"{name}.txt")
    assert table, f"requirements/{name}.txt pins nothing"
    assert all(table.values()), [p for p, h in table.items() if not h]


def test_locks_nest_and_hold_the_right_things() -> None:
    run, fusion, dev = (pins(ROOT / "requirements" / f"{n}.txt") for n in LOCKS)
    # The ingest/alert and camera images: no model runtime, no torch.
    assert "av" in run and "onnxruntime-gpu" not in run and "torch" not in run
    assert "onnxruntime-gpu" in fusion and "torch" not in fusion
    assert {"torch", "torchaudio", "torchvision", "pytest", "onnxruntime-gpu"} <= dev.keys()
    # One version per package across the three files: what the images run is what CI tested.
    for small in (run, fusion):
        for package, hashes in small.items():
            assert dev.get(package) == hashes, f"{package} differs between the lock files"


def test_lock_files_are_what_pyproject_resolves_to() -> None:
    """`scripts/lock.sh --check` recompiles (PyPI, ignoring releases after its fixed date)."""
    res = subprocess.run(
        ["bash", "scripts/lock.sh", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_check_fails_when_pyproject_moves_on(tmp_path: Path) -> None:
    """The check can fail: a dependency added to pyproject.toml without re-locking is caught."""
    for part in ("scripts/lock.sh", "scripts/uv.sh", "pyproject.toml", "README.md"):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, tmp_path / part)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml>=6",', '"pyyaml>=6",\n    "six==1.16.0",', 1))
    res = subprocess.run(
        ["bash", "scripts/lock.sh", "--check"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "+six==1.16.0" in res.stdout
    assert "lock files are stale" in res.stderr


def test_make_installs_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "$(call sync_venv,requirements/dev.txt)" in makefile
    assert "$(call sync_venv,requirements/fusion.txt)" in makefile
    assert "pip install -q -e '.[" not in makefile  # never pyproject's ranges


@pytest.mark.parametrize(
    ("dockerfile", "lock"),
    [("Dockerfile", "run"), ("Dockerfile.camera", "run"), ("Dockerfile.fusion", "fusion")],
)
def test_images_install_from_the_locks(dockerfile: str, lock: str) -> None:
    text = (ROOT / "docker" / dockerfile).read_text()
    assert f"COPY requirements/{lock}.txt ./requirements.txt" in text
    installs = [i.rstrip(" \\") for i in re.findall(r"pip install [^\n&]*", text)]
    assert "pip install --require-hashes -r requirements.txt" in installs
    # Anything else pip installs is the project itself, without dependencies: no unpinned upgrade.
    assert all(i.startswith(("pip install --require-hashes", "pip install --no-deps .")) for i in installs), (
        installs
    )
    ignore = (ROOT / "docker" / f"{dockerfile}.dockerignore").read_text()
    assert "!requirements/**" in ignore.splitlines()
