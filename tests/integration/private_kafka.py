"""A private single-node Kafka (KRaft) for tests that stop the broker.

The shared broker on 127.0.0.1:9092 serves every other suite at the same time, so a test that
takes Kafka away starts its own on free ports, through the same code path as the shared one
(``scripts/stack.sh kafka-up`` / ``kafka-down`` with ``STACK_DIR`` and ports in the environment),
from the jars the shared stack already fetched into ``.stack/kafka/libs``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import STACK_DIR, STACK_SH
from tests.integration.test_ingest_rtsp import free_port


class PrivateKafka:
    """One broker + controller under ``state_dir``; ``stop()`` and ``start()`` keep its data."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._started = False

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "STACK_DIR": str(self.state_dir),
            "STACK_KAFKA_LIBS": str(STACK_DIR / "kafka" / "libs"),
            "STACK_KAFKA_PORT": str(self.port),
            "STACK_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "STACK_KAFKA_HEAP": "-Xmx384m -Xms128m",
        }

    def _run(self, command: str) -> str | None:
        """Run ``scripts/stack.sh command``; the error report if it failed, else None."""
        proc = subprocess.run(
            ["bash", str(STACK_SH), command],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if proc.returncode == 0:
            return None
        ours = "\n".join(line for line in proc.stderr.splitlines() if line.startswith("[stack]"))
        return f"scripts/stack.sh {command} failed:\n{ours}\n...\n{proc.stderr[-2000:]}"

    def start(self) -> None:
        """Start the broker (formatting its log dir the first time); returns once it answers.

        The first start takes other free ports if the chosen ones were taken meanwhile (another
        suite's process); a restart keeps its ports (clients know them), trying once more.
        """
        error = None
        for _ in range(3):
            error = self._run("kafka-up")
            if error is None:
                self._started = True
                return
            self._run("kafka-down")
            if not self._started:
                self.port, self.controller_port = free_port(), free_port()
                self.bootstrap = f"127.0.0.1:{self.port}"
        pytest.fail(f"private Kafka: {error}")

    def stop(self) -> None:
        """Stop the broker (SIGTERM: a clean shutdown), returning once the process has exited."""
        error = self._run("kafka-down")
        if error is not None:
            pytest.fail(f"private Kafka: {error}")
