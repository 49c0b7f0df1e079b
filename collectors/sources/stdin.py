"""Standard input as a line source (``socmon collect`` with ``collectors.stdin: true``)."""

from __future__ import annotations

import sys
import threading
from typing import BinaryIO

from socmon.collectors.lines import LineHandler


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
        offset = 0
        try:
            for raw in self.stream:
                pos = offset
                offset += len(raw)
                line = raw.rstrip(b"\n")
                if not line.strip():
                    continue
                truncated = len(line) > limit
                self.handler.handle(line[:limit], "stdin", pos, None, truncated=truncated)
        finally:
            self.finished.set()

    def stop(self) -> None:
        pass
