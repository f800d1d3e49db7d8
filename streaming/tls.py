"""Telling a TLS misconfiguration from an outage, with one handshake.

A client whose CA does not trust the server, or that speaks TLS to a plaintext port (or the
reverse), sees only connections that close: Kafka and Redis clients would retry that as if the
server were down. :func:`tls_mismatch` asks the port directly; the callers (the Kafka bus, the
Redis clients) turn its answer into one clear error naming their own configuration keys.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class TlsMismatch:
    """Why this client's TLS setting can never work with the server's port."""

    kind: Literal["untrusted", "server_plaintext", "server_tls"]
    detail: str = ""  # the verifier's reason, for "untrusted"


def split_host_port(address: str, default_port: int) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``, or a bare host) to its parts."""
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:
        return address.strip("[]") or "localhost", default_port
    return host.strip("[]") or "localhost", int(port)


def tls_mismatch(
    host: str,
    port: int,
    *,
    wants_tls: bool,
    cafile: Path | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    timeout_s: float = 2.0,
) -> TlsMismatch | None:
    """One handshake with ``host:port``: a mismatch with ``wants_tls`` and ``cafile``, else None.

    With ``wants_tls`` the server's certificate must verify against ``cafile`` (the system's CAs
    when None) for ``host``; without it, the port must not complete a TLS handshake. None also
    when the port does not answer at all: that is an outage, for the caller's retries.
    """
    if wants_tls:
        context = ssl.create_default_context(cafile=str(cafile) if cafile is not None else None)
        if certfile is not None:
            context.load_cert_chain(str(certfile), str(keyfile) if keyfile is not None else None)
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            pass
    except ssl.SSLCertVerificationError as exc:
        return TlsMismatch("untrusted", str(exc.verify_message))
    except ssl.SSLError as exc:
        if wants_tls and "WRONG_VERSION_NUMBER" in str(exc):
            return TlsMismatch("server_plaintext")
        return None
    except (OSError, ValueError):
        return None
    return None if wants_tls else TlsMismatch("server_tls")
