"""Logs on stderr: JSON lines for machines, plain text for a person at a terminal.

``log.format`` ``auto`` (the default) writes text when stderr is a terminal and JSON otherwise
(a service, a pipe, a file); ``json`` or ``text`` choose explicitly.

Use the standard library's logging everywhere; pass context with ``extra=`` so it becomes
JSON fields: ``log.warning("line too long", extra={"source": path, "position": offset})``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

import orjson

# Attributes every LogRecord has; anything else came from ``extra=`` and is emitted as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, ECS-style keys (``@timestamp``, ``log.level``, ``message``)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["error.stack_trace"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...``: the ``extra=`` fields stay visible."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = [
            f"{k}={v}"
            for k, v in record.__dict__.items()
            if k not in _STANDARD and not k.startswith("_")
        ]
        if not extra:
            return line
        head, sep, stack = line.partition("\n")  # keep a traceback below the fields
        return f"{head} {' '.join(extra)}{sep}{stack}"


def resolve_format(fmt: str, stream: TextIO) -> str:
    """``auto`` -> ``text`` on a terminal, ``json`` otherwise; other values unchanged."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure the root logger once (idempotent: replaces socmon's own handler)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_socmon", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._socmon = True  # type: ignore[attr-defined]
    if resolve_format(fmt, sys.stderr) == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # The transport logs every request at INFO: too chatty for a pipeline.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
