"""Standard input as a line source (``socmon collect`` with ``collectors.stdin: true``).

Standard input has no position that survives a run: the next run's first line is at offset 0
again, whatever it holds. So ids come from the content: ``doc_id("stdin", blake2b-128 of the
line, n)`` where ``n`` counts the earlier lines of this run with the same content. Replaying
the same input gives the same ids (idempotent); a different line always gets a new id, and a
line repeated within one input is kept once per repetition. Bad input is reported at its line
number.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import Counter
from typing import BinaryIO

from socmon.collectors.lines import LineHandler


def content_position(line: bytes, seen: Counter[bytes]) -> str:
    """The id position of ``line``: its content hash and how often that content came before
    (``seen`` is updated)."""
    digest = hashlib.blake2b(line, digest_size=16).digest()
    n = seen[digest]
    seen[digest] = n + 1
    return f"{digest.hex()}:{n}"


class StdinReader:
    name = "stdin"

    def __init__(self, handler: LineHandler, stream: BinaryIO | None = None) -> None:
        self.handler = handler
        self.stream = stream or sys.stdin.buffer
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="stdin", daemon=True)
        self._thread.start()

    def run(self) -> None:
        limit = self.handler.settings.max_line_bytes
        seen: Counter[bytes] = Counter()
        try:
            for n, raw in enumerate(self.stream, 1):
                line = raw.rstrip(b"\n")
                if not line.strip() or self.handler.header(line):
                    continue
                pos = content_position(line, seen)  # the whole line, before any truncation
                truncated = len(line) > limit
                self.handler.handle(
                    line[:limit], "stdin", pos, None, truncated=truncated, where=f"line {n}"
                )
        finally:
            self.finished.set()

    def stop(self) -> None:
        pass
