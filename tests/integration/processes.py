"""Vigil services as real processes for integration tests, and the stub-model configuration they share.

``ServiceProcesses`` starts ``python -m services.cli <service>`` with one environment, each
service's output in ``<logs>/<service>.log``, and stops them all with SIGTERM (SIGKILL only after
20 s). ``STUB_SERVICES_YAML`` runs fusion on the stub model (:mod:`tests.fusion_stub_model`:
bright, loud ranges score high) with a policy that raises one ``explosion`` alert per range.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STUB_SERVICES_YAML = """\
fusion:
  model_path: {model}
  providers: [CPUExecutionProvider]
  lateness_s: 10.0
  idle_timeout_s: 5.0
kafka:
  partitions: 1
alert:
  default_policy:
    anomaly_threshold: 0.3
    classes: {{explosion: {{threshold: 0.3}}}}
    raise_k: 2
    raise_n: 3
    resolve_m: 2
    cooldown_s: 0
log_level: INFO
"""


class ServiceProcesses:
    """``vigil <service>`` processes sharing ``env`` (on top of this process's environment)."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        """Start ``vigil name`` (ingest, fusion, alert, ...)."""
        with (self.logs / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", name],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def log(self, name: str) -> str:
        """Everything ``name`` printed so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def exited(self, *, but: str = "ingest") -> str | None:
        """The first service (other than ``but``, which ends with its files) that exited, if any."""
        return next((n for n, p in self.procs.items() if n != but and p.poll() is not None), None)

    def stop(self) -> None:
        """SIGTERM every running service, SIGKILL what is still running after 20 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
