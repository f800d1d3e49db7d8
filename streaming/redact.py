"""Keep secrets out of logs, metric labels, exceptions and records.

Camera URLs carry passwords (``rtsp://user:pass@host/...``); everything that may print a URL goes
through :func:`redact_url` or :func:`redact_text`, and :class:`RedactingFilter` scrubs every log
record as a last line of defence.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"

# scheme://user:password@host  or scheme://user@host (a token in the user part is a secret too)
_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/@\s]+)@")
# key=value secrets in query strings or free text
_SECRET_PARAM = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|api_key|apikey)=([^&\s]+)")


def redact_url(url: str) -> str:
    """Return ``url`` with any user-info and secret query parameters replaced by ``***``.

    >>> redact_url("rtsp://admin:hunter2@10.0.0.5:554/stream1")
    'rtsp://***@10.0.0.5:554/stream1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    query = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Scrub credentials from URLs and ``password=...`` pairs anywhere inside free text."""
    text = _CREDENTIALS_IN_URL.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs credentials from every record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            # Exceptions from PyAV/FFmpeg often quote the URL they failed on; the formatter
            # prints exc_text as it is when set, so set it to the scrubbed traceback.
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text)
        record.msg = redact_text(message)
        record.args = None
        return True
