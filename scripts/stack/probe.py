"""Readiness probes for the local stack, run by scripts/stack.sh with the project's venv python.

    probe.py kafka 127.0.0.1:9092 --timeout 90   # a real client gets cluster metadata
    probe.py rtsp rtsp://127.0.0.1:8554/incident --timeout 30   # a real DESCRIBE + stream list

Exits 0 when the service answers, 1 (with the last error on stderr) when the timeout passes or
the process given with --pid exits first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable


def _kafka(bootstrap: str) -> str:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=5000,
        bootstrap_timeout_ms=3000,
        client_id="vigil-stack-probe",
    )
    try:
        brokers = admin.describe_cluster()["brokers"]
        if not brokers:
            raise RuntimeError("no broker registered yet")
        admin.list_topics()
        return f"kafka {bootstrap}: {len(brokers)} broker(s)"
    finally:
        admin.close()


def _rtsp(url: str) -> str:
    import av

    with av.open(url, options={"rtsp_transport": "tcp", "timeout": "5000000"}, timeout=(5, 5)) as container:
        kinds = sorted(s.type for s in container.streams)
        if "video" not in kinds:
            raise RuntimeError(f"no video stream (streams: {kinds})")
        return f"rtsp {_redact(url)}: streams {kinds}"


def _alive(pid: str) -> bool:
    """Whether the process runs (a zombie counts as gone)."""
    if not pid.isdigit():
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _redact(url: str) -> str:
    """Hide user:password in a URL (the probe may be given a camera URL with credentials)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


PROBES: dict[str, Callable[[str], str]] = {"kafka": _kafka, "rtsp": _rtsp}


def main(argv: list[str] | None = None) -> int:
    """Retry the chosen probe until it succeeds or the timeout passes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kind", choices=sorted(PROBES))
    parser.add_argument("target")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument(
        "--pid", default=None, help="give up at once if this process exits ('' = it already has)"
    )
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    last = "not tried"
    while time.monotonic() < deadline:
        try:
            print(PROBES[args.kind](args.target))
            return 0
        except Exception as exc:  # any failure means "not ready yet"
            last = f"{type(exc).__name__}: {exc}".replace(args.target, _redact(args.target))
        if args.pid is not None and not _alive(args.pid):
            print(f"{args.kind}: process {args.pid} exited before it was ready: {last}", file=sys.stderr)
            return 1
        time.sleep(1.0)
    print(f"{args.kind} not ready after {args.timeout:.0f} s: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
