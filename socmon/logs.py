"""Structured JSON logs on stderr.

Use the standard library's logging everywhere; pass context with ``extra=`` so it becomes
JSON fields: ``log.warning("line too long", extra={"source": path, "position": offset})``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

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


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once (idempotent: replaces socmon's own handler)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_socmon", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._socmon = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # The transport logs every request at INFO: too chatty for a pipeline.
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
