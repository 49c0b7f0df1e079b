"""One watcher of the rule sources for every detection mode of ``socmon run``.

``RuleWatcher`` loads the rules once at start with the ``load`` function it is given
(``rules.loader.load_for_run`` in ``socmon run``) and, when polled, reads the rule store's
revision (``rules.store.store_revision``, one cheap search).
When the revision changed it loads the rules again, once, and publishes them as a new
*generation*; each consumer (the streaming engine, the scheduled runner) remembers the
generation it runs and rebuilds itself from a newer one. So both modes see the same rules,
and a change in the store reaches each of them within its own poll interval
(``detection.store_poll_interval``).

A reload that cannot read the store keeps the current generation (rules from the store are
never dropped because Elasticsearch was briefly unreachable) and is retried at the next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from socmon.rules.loader import LoadedRules

log = logging.getLogger(__name__)

Revision = tuple[int, str]
# the revision before any read: the first successful read is the baseline (no reload)
_ADOPT: Any = object()
# the rules in use may not reflect the store (it was unreadable): reload at the next read
_STALE: Any = object()


class RuleWatcher:
    """The rules in use (a generation number and ``LoadedRules``) and their store revision."""

    def __init__(
        self,
        ctx: Any,
        load: Callable[[Any, bool], LoadedRules],
    ) -> None:
        self.ctx = ctx
        self._load = load
        self._lock = threading.Lock()
        self._revision: Any = _ADOPT
        self.generation = 0
        self.loaded: LoadedRules | None = None

    @property
    def enabled(self) -> bool:
        """Whether the rule store is watched at all (``detection.store_rules``)."""
        return bool(self.ctx.settings.detection.store_rules)

    def initial(self) -> LoadedRules:
        """Load the rules at start. The revision is read first, so a change made during the
        load is seen at the next poll; when the store is unreadable, the first successful
        poll reloads."""
        with self._lock:
            rev = self._read() if self.enabled else None
            self._revision = _STALE if rev is None else rev
            self.loaded = self._load(self.ctx, False)
            self.generation = 1
            return self.loaded

    def adopt(self, loaded: LoadedRules) -> None:
        """Use rules loaded elsewhere; the first revision read becomes the baseline."""
        with self._lock:
            self.loaded = loaded
            self.generation = 1
            self._revision = _ADOPT

    def poll(self, seen: int) -> tuple[int, LoadedRules] | None:
        """A generation newer than ``seen`` (reloading first if the store changed), or None
        when the caller already runs the current one."""
        with self._lock:
            if self.enabled:
                self._check()
            if self.generation > seen and self.loaded is not None:
                return self.generation, self.loaded
            return None

    # ------------------------------------------------------------------ internals

    def _read(self) -> Revision | None:
        from socmon.rules.store import store_revision

        try:
            return store_revision(self.ctx.client, self.ctx.names)
        except Exception as e:
            log.debug("rule store revision not readable", extra={"error": str(e)})
            return None

    def _check(self) -> None:
        rev = self._read()
        if rev is None:
            return
        if self._revision is _ADOPT:
            self._revision = rev
            return
        if rev == self._revision:
            return
        try:
            loaded = self._load(self.ctx, True)
        except Exception as e:
            log.warning(
                "rule reload failed; keeping the current rules (retried at the next poll)",
                extra={"error": f"{type(e).__name__}: {e}"},
            )
            return
        self._revision = rev
        self.loaded = loaded
        self.generation += 1
        log.info(
            "rules reloaded from the store",
            extra={"revision": list(rev), "generation": self.generation},
        )
