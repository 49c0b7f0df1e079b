"""SIGTERM and SIGINT for the long-running commands, with nothing done in a signal handler.

A Python signal handler runs in the main thread between two bytecodes, wherever that thread
is: inside ``threading.Event.wait`` holding the event's lock, or inside a logging call
holding the handler's lock and half-way through a write to stderr. A handler that sets an
Event or logs can then wait forever on a lock its own thread holds, or raise inside the
interrupted write so that the Event is never set; the process then ignores SIGTERM (a CI
run of ``socmon run`` once hung 60 s after SIGTERM, its stop never seen).

Here the Python handler does nothing. The interpreter's C-level handler writes the signal's
number to a socket (``signal.set_wakeup_fd``, the mechanism asyncio uses), and the main
thread reads it when it is ready to: ``wait()`` blocks, ``received()`` looks without
blocking, so a signal that arrives during start-up is kept until start-up has finished.
"""

from __future__ import annotations

import signal
import socket
from types import FrameType, TracebackType

STOP = (signal.SIGTERM, signal.SIGINT)


def _nothing(_signum: int, _frame: FrameType | None) -> None:
    """Installed so that the interpreter's C handler runs and writes the wakeup byte."""


class StopSignals:
    """Collects SIGTERM/SIGINT for the main thread; use as a context manager there."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        self._write.setblocking(False)
        self._signum: int | None = None
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, _nothing) for s in STOP}

    def wait(self, timeout: float | None = None) -> int | None:
        """The first stop signal's number; waits up to ``timeout`` seconds (None: for ever)
        and returns None when none came in that time."""
        while self._signum is None:
            self._read.settimeout(timeout)
            try:
                got = self._read.recv(1)
            except (TimeoutError, BlockingIOError):
                return None
            if got and got[0] in STOP:  # another Python-handled signal also writes a byte
                self._signum = got[0]
        return self._signum

    def received(self) -> int | None:
        """The stop signal received so far, without waiting."""
        return self.wait(0)

    def close(self) -> None:
        """Give the signals back to what handled them before, and close the sockets."""
        for s, handler in self._previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(s, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._read.close()
        self._write.close()

    def __enter__(self) -> StopSignals:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.close()
