"""Container health check: GET /healthz on the service's HTTP port; exit 0 when it answers 200.

The port is $VIGIL_HTTP__PORT when set (the same variable the service reads), otherwise each
service's default port is tried (ingest 9101, fusion 9102, alert 9103), so one image serves all.
Standard library only: the run-time images carry no curl.
"""

import os
import sys
import urllib.request

DEFAULT_PORTS = (9101, 9102, 9103)


def healthy(port: int) -> bool:
    """Whether http://127.0.0.1:PORT/healthz answers 200 within 4 s."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    """Exit status for Docker's HEALTHCHECK."""
    configured = os.environ.get("VIGIL_HTTP__PORT")
    ports = (int(configured),) if configured else DEFAULT_PORTS
    return 0 if any(healthy(port) for port in ports) else 1


if __name__ == "__main__":
    sys.exit(main())
