"""StopSignals: SIGTERM/SIGINT read by the main thread from a wakeup socket."""

from __future__ import annotations

import os
import signal
import threading
import time

from socmon.stop_signals import StopSignals


def test_a_signal_is_kept_until_read_and_the_previous_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        assert signals.received() is None
        assert signals.wait(0.05) is None
        os.kill(os.getpid(), signal.SIGTERM)  # would end the test run without the handler
        time.sleep(0.1)
        assert signals.received() == signal.SIGTERM
        assert signals.wait() == signal.SIGTERM  # the first one stays the answer
    assert signal.getsignal(signal.SIGTERM) == before


def test_wait_returns_when_a_signal_comes_from_another_thread() -> None:
    with StopSignals() as signals:
        t = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        t.start()
        t0 = time.monotonic()
        assert signals.wait(30) == signal.SIGINT
        assert time.monotonic() - t0 < 10
        t.join()
