"""Fuzz configuration loading: a YAML file and ``VIGIL_*`` environment variables.

Any input either loads, or raises :class:`streaming.config.ConfigError` (start-up stops with a
message naming the key). The first byte picks file-only or file plus environment: the environment
is the input's lines after a NUL, ``NAME=value`` each.

    python tests/fuzz/fuzz_config.py [libFuzzer flags] [corpus dirs]
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from streaming import config

_DIR = tempfile.mkdtemp(prefix="vigil-fuzz-config-")
_PATH = os.path.join(_DIR, "vigil.yaml")


def check(data: bytes) -> None:
    """One input: write the YAML part to a file, turn the rest into an environment, load."""
    text, _, env_part = data.partition(b"\0")
    environ: dict[str, str] = {}
    for line in env_part.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition("=")
        if sep:
            environ["VIGIL_" + name.removeprefix("VIGIL_")] = value
    with open(_PATH, "wb") as f:
        f.write(text)
    with contextlib.suppress(config.ConfigError):
        config.load_config(_PATH, environ)


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
