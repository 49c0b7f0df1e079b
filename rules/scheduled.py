"""Scheduled mode: rules run as Elasticsearch queries over ``<prefix>-events-*``.

Each run, for each rule, covers the *storage* time (``socmon.ingested``, stamped by socmon
when it hands an event to Elasticsearch, ``socmon.ingest_time``) from where the rule's coverage
ended up to ``now - delay`` (the newest seconds are left to the next run: documents may not
be refreshed yet), re-reading ``lookback`` seconds before that point for documents whose
write was retried. An event that happened hours ago but arrives now (a site's spool replayed
after a link outage) is therefore examined when it arrives; documents socmon did not store
(another shipper's) are covered by their ``event.ingested``, else ``@timestamp``. Coverage is
persisted per rule in the state index (``_id = "scheduled:<rule id>"``, ``covered_until``)
after every successful window, so:

- a restart or a slow run resumes where coverage ended (catch up, in ``chunk``-sized windows);
- an outage longer than ``max_catchup`` leaves a gap, which is counted
  (``socmon_scheduled_gaps_total``, ``socmon_scheduled_gap_seconds_total``) and logged;
- re-reading overlapping windows never alerts twice: detection ids are deterministic
  (``rules.scheduled.detection_id``: rule id + event id, the same as the streaming engine's),
  and the alerts index is written with ``create``; the ids delivered recently are
  remembered (``rules.scheduled_seen``), so the passes re-reading the lookback count a
  re-found detection as a duplicate and do not hand it to alerting again.

Single-event rules are one ``query_string`` search each, paged through every match of the
window (``rules.scheduled_search``: a point in time and ``search_after`` beyond the first
page) up to the hard bound ``scheduled_max_hits``; the overflow is counted
(``socmon_scheduled_overflow_hits_total``) and logged. Correlation rules find the group-by
buckets with matching events stored in the window and their ``@timestamp`` extent (a
composite aggregation; aliased or ungrouped correlations: one extent), fetch each group's
events within ``timespan`` of that extent whatever their storage time (up to the window's
end), and replay them in ``@timestamp`` order through the streaming correlation logic
(``rules.correlation``), keeping the detections that include an event stored in the window:
both modes apply exactly the same window semantics, and a late burst gives the detections
(same ids) it would have given on time.

The rule set follows the rule sources (``ScheduledService`` polls the ``rules.reload`` watcher
shared with streaming; ``ScheduledRunner.replace``): added rules run at once as new rules,
changed rules keep their coverage, removed rules stop and their coverage is suspended.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from prometheus_client import Counter, Gauge, Histogram

from socmon.ids import doc_id
from socmon.indices import IndexNames, install_external_template
from socmon.ingest_time import stored_range
from socmon.metrics import REGISTRY
from socmon.rules.correlation import CorrelationEngine, parse_timestamp
from socmon.rules.detection import Detection, MatchedEvent
from socmon.rules.external import External, externals
from socmon.rules.reload import RuleWatcher
from socmon.rules.scheduled_convert import ScheduledCorrelation, ScheduledRule, ScheduledSet
from socmon.rules.scheduled_search import PagedSearch
from socmon.rules.scheduled_seen import RecentIds
from socmon.settings.detection import DetectionSettings
from socmon.timestamps import iso_epoch

log = logging.getLogger(__name__)

LAG = Gauge(
    "socmon_scheduled_rule_lag_seconds",
    "Seconds between now and the end of the event time a scheduled rule has covered.",
    ["rule"],
    registry=REGISTRY,
)
GAPS = Counter(
    "socmon_scheduled_gaps_total",
    "Periods a scheduled rule skipped because they were older than max_catchup.",
    ["rule"],
    registry=REGISTRY,
)
GAP_SECONDS = Counter(
    "socmon_scheduled_gap_seconds_total",
    "Event time (seconds) never covered by a scheduled rule (older than max_catchup).",
    ["rule"],
    registry=REGISTRY,
)
RUN_SECONDS = Histogram(
    "socmon_scheduled_run_seconds",
    "Duration of one scheduled pass over every rule.",
    registry=REGISTRY,
)
ERRORS = Counter(
    "socmon_scheduled_errors_total",
    "Scheduled rule windows that failed (retried from the same point next run).",
    ["reason"],
    registry=REGISTRY,
)
TRUNCATED = Counter(
    "socmon_scheduled_truncated_total",
    "Scheduled windows with more matches than max_hits (the excess is not reported).",
    registry=REGISTRY,
)
OVERFLOW = Counter(
    "socmon_scheduled_overflow_hits_total",
    "Matches not reported because their window had more than max_hits matches.",
    ["rule"],
    registry=REGISTRY,
)
RELOADS = Counter(
    "socmon_scheduled_rule_changes_total",
    "Scheduled rules added, changed or removed by a reload of the rule sources.",
    ["change"],
    registry=REGISTRY,
)
DETECTIONS = Counter(
    "socmon_scheduled_detections_total",
    "Detections produced by scheduled mode (new: delivered; duplicate: found again, e.g. by "
    "a pass re-reading the lookback, and not delivered again).",
    ["outcome"],
    registry=REGISTRY,
)


def detection_id(rule_key: str, event_id: str) -> str:
    """The id of a single-event detection: the same in streaming and scheduled mode
    (``rules.engine.detection_for``)."""
    return doc_id("detection", rule_key, event_id)


def _level(rule: Any) -> str:
    return rule.level.name.lower() if rule.level is not None else "medium"


def _status(rule: Any) -> str:
    return rule.status.name.lower() if rule.status is not None else ""


def _stored_in(event: dict[str, Any], w: Window) -> bool:
    """Whether an event was stored in ``w``: by the first it has of ``socmon.ingested``,
    ``event.ingested``, ``@timestamp`` (the order of ``socmon.ingest_time.stored_range``)."""
    so, e = event.get("socmon"), event.get("event")
    if isinstance(so, dict) and "ingested" in so:
        t = parse_timestamp(so.get("ingested"))
    elif isinstance(e, dict) and "ingested" in e:
        t = parse_timestamp(e.get("ingested"))
    else:
        t = parse_timestamp(event.get("@timestamp"))
    return t is not None and w.start <= t < w.end


@dataclass
class Window:
    start: float  # epoch seconds, inclusive
    end: float  # exclusive


@dataclass
class RuleChanges:
    """What a reload changed in the scheduled rule set (rule keys)."""

    added: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


class CoverageStore:
    """Per-rule ``covered_until`` in the state index."""

    def __init__(self, client: Elasticsearch, names: IndexNames, scope: str = "") -> None:
        self.client = client
        self.index = names.state
        self.scope = scope  # an external source's name: its coverage is its own

    def _id(self, rule_key: str) -> str:
        return f"scheduled:{self.scope}:{rule_key}" if self.scope else f"scheduled:{rule_key}"

    def get(self, rule_key: str) -> float | None:
        """Where the rule's coverage ends; None for a new (or suspended) rule."""
        try:
            got = self.client.get(index=self.index, id=self._id(rule_key))
        except NotFoundError:
            return None
        if got["_source"].get("suspended"):
            return None
        return parse_timestamp(got["_source"].get("covered_until"))

    def suspend(self, rule_key: str) -> None:
        """The rule left the rule set (disabled, deleted, no longer convertible): its
        coverage is kept for the record but not resumed; back, it starts as a new rule."""
        now = iso_epoch(time.time())
        self.client.update(
            index=self.index,
            id=self._id(rule_key),
            doc={"suspended": now, "updated": now},
        )

    def set(self, rule_key: str, covered_until: float) -> None:
        now = iso_epoch(time.time())
        self.client.index(
            index=self.index,
            id=self._id(rule_key),
            document={
                "kind": "scheduled",
                "rule_id": rule_key,
                **({"source": self.scope} if self.scope else {}),
                "covered_until": iso_epoch(covered_until),
                "suspended": None,
                "@timestamp": now,
                "updated": now,
            },
        )


class ScheduledRunner:
    """Runs converted rules over the events indices, tracking coverage per rule. With
    ``external`` (``rules.external``): over another shipper's indices instead, with its own
    coverage, and each matched document given its organisation unit before it is reported."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        rules: ScheduledSet,
        settings: DetectionSettings,
        output: Callable[[Detection], bool],
        index_pattern: str | None = None,
        clock: Callable[[], float] = time.time,
        external: External | None = None,
    ) -> None:
        self.client = client
        self.names = names
        self.set = rules
        self.s = settings
        self.output = output
        self.external = external
        self.index = index_pattern or (external.index if external else names.events_pattern)
        self.coverage = CoverageStore(client, names, external.name if external else "")
        self.clock = clock
        # per rule, the detections delivered recently: not handed over again by the passes
        # re-reading the lookback; forgotten when the rule is added, changed or removed
        self.delivered: dict[str, RecentIds] = {}

    # -- windows ------------------------------------------------------------------------
    def windows(self, rule_key: str, now: float) -> tuple[list[Window], float]:
        """The windows to query for a rule now, and the point coverage reaches when done."""
        target = now - self.s.scheduled_delay
        covered = self.coverage.get(rule_key)
        if covered is None:  # a new rule: start with one lookback of history
            covered = target - max(self.s.scheduled_lookback, self.s.scheduled_interval)
        oldest = target - self.s.scheduled_max_catchup
        if covered < oldest:
            gap = oldest - covered
            GAPS.labels(rule_key).inc()
            GAP_SECONDS.labels(rule_key).inc(gap)
            log.warning(
                "scheduled rule: period older than max_catchup skipped (gap)",
                extra={
                    "rule_id": rule_key,
                    "gap_start": iso_epoch(covered),
                    "gap_end": iso_epoch(oldest),
                    "gap_seconds": gap,
                },
            )
            covered = oldest
        start = covered - self.s.scheduled_lookback
        out: list[Window] = []
        t = start
        while t < target:
            end = min(t + self.s.scheduled_chunk, target)
            out.append(Window(t, end))
            t = end
        return out, max(covered, target)

    # -- rule set ---------------------------------------------------------------------
    def active(self) -> dict[str, ScheduledRule | ScheduledCorrelation]:
        """The rules each pass runs, by key: base rules referenced only by correlations
        without ``generate`` are not reported alone."""
        out: dict[str, ScheduledRule | ScheduledCorrelation] = {
            r.key: r for r in self.set.rules if r.key not in self.set.suppressed
        }
        out.update((c.key, c) for c in self.set.correlations)
        return out

    def replace(self, rules: ScheduledSet) -> RuleChanges:
        """Swap in a reloaded rule set (between passes). Added rules start as new ones (one
        lookback of history); changed rules keep their coverage, so the new version is
        applied from ``covered_until - lookback`` on (no gap, no re-scan of older history);
        removed rules stop and their coverage is suspended (the time they were out of the
        set is not a gap: back, they start as new rules)."""
        before = {k: v.fingerprint for k, v in self.active().items()}
        self.set = rules
        after = {k: v.fingerprint for k, v in self.active().items()}
        ch = RuleChanges(
            added={k for k in after if k not in before},
            changed={k for k in after if k in before and before[k] != after[k]},
            removed={k for k in before if k not in after},
        )
        for k in ch.added | ch.changed | ch.removed:
            self.delivered.pop(k, None)
        for k in sorted(ch.removed):
            with contextlib.suppress(KeyError):
                LAG.remove(k)  # a stopped rule has no lag
            try:
                self.coverage.suspend(k)
            except NotFoundError:
                pass  # never ran: nothing to suspend
            except (ApiError, TransportError) as e:
                ERRORS.labels("state").inc()
                log.warning(
                    "scheduled coverage not suspended", extra={"rule_id": k, "error": str(e)}
                )
        for change, keys in (("added", ch.added), ("changed", ch.changed), ("removed", ch.removed)):
            if keys:
                RELOADS.labels(change).inc(len(keys))
        if ch:
            log.info(
                "scheduled rules reloaded",
                extra={
                    "added": sorted(ch.added),
                    "changed": sorted(ch.changed),
                    "removed": sorted(ch.removed),
                    "rules": len(after),
                },
            )
        return ch

    # -- one pass -----------------------------------------------------------------------
    def run_once(self, only: set[str] | None = None) -> int:
        """One pass over every rule (or the rules in ``only``); returns the number of new
        detections."""
        began = time.monotonic()
        new = 0
        now = self.clock()
        for key, item in self.active().items():
            if only is None or key in only:
                new += self._run_rule(item, now)
        RUN_SECONDS.observe(time.monotonic() - began)
        return new

    def _run_rule(self, item: ScheduledRule | ScheduledCorrelation, now: float) -> int:
        windows, _ = self.windows(item.key, now)
        new = 0
        seen = self.delivered.get(item.key)
        if seen is None:
            keep = 2 * self.s.scheduled_lookback + 3 * self.s.scheduled_interval
            seen = self.delivered[item.key] = RecentIds(keep)
        for w in windows:
            try:
                dets: Iterable[Detection]
                if isinstance(item, ScheduledRule):
                    dets = self._search_rule(item, w)
                else:
                    dets = self._search_correlation(item, w)
                # delivered page by page; a failure mid-window retries the whole window
                # (the detections already delivered are duplicates then, not new alerts)
                for d in dets:
                    if not seen.seen(d.id) and self.output(d):
                        new += 1
                        DETECTIONS.labels("new").inc()
                    else:
                        DETECTIONS.labels("duplicate").inc()
                    seen.add(d.id)
            except (ApiError, TransportError) as e:
                ERRORS.labels("elasticsearch").inc()
                log.warning(
                    "scheduled rule window failed; retried next run",
                    extra={"rule_id": item.key, "start": iso_epoch(w.start), "error": str(e)},
                )
                break
            try:
                prev = self.coverage.get(item.key)
                self.coverage.set(item.key, max(w.end, prev or w.end))
            except (ApiError, TransportError) as e:
                ERRORS.labels("state").inc()
                log.warning(
                    "scheduled coverage not saved", extra={"rule_id": item.key, "error": str(e)}
                )
                break
        covered = self._covered_or(item.key, None)
        if covered is not None:
            LAG.labels(item.key).set(max(0.0, now - covered))
        return new

    def _covered_or(self, key: str, default: float | None) -> float | None:
        try:
            got = self.coverage.get(key)
        except (ApiError, TransportError):
            return default
        return got if got is not None else default

    # -- single-event rules ---------------------------------------------------------------
    @staticmethod
    def _span(field: str, start: float | None, end: float) -> dict[str, Any]:
        r: dict[str, Any] = {"lt": iso_epoch(end), "format": "strict_date_optional_time"}
        if start is not None:
            r["gte"] = iso_epoch(start)
        return {"range": {field: r}}

    def _range(self, start: float | None, end: float) -> dict[str, Any]:
        """Events stored in [start, end) (``socmon.ingest_time.stored_range``: socmon's
        storage time, so a late event is covered when it arrives; another shipper's
        documents by their ``event.ingested``, else ``@timestamp``)."""
        return stored_range(start, end)

    def _hits(
        self,
        query: dict[str, Any],
        w: Window,
        extra: list[dict[str, Any]] | None = None,
        rule_key: str = "",
        window: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Every match stored in the window (``window``; else only ``extra`` filters), in
        ``@timestamp`` order, paged (``rules.scheduled_search``) up to
        ``scheduled_max_hits``; the overflow is counted and logged."""
        filters = [self._range(w.start, w.end)] if window else []
        paged = PagedSearch(
            self.client,
            self.index,
            {"bool": {"filter": [*filters, query, *(extra or [])]}},
            page_size=self.s.scheduled_page_size,
            limit=self.s.scheduled_max_hits,
            index_filter=filters[0] if filters else None,
        )
        if self.external is None:
            yield from paged
        else:
            ext = self.external
            for h in paged:
                yield {**h, "_source": ext.annotate(h.get("_source") or {})}
        if paged.overflow:
            TRUNCATED.inc()
            OVERFLOW.labels(rule_key).inc(paged.overflow)
            log.warning(
                "scheduled window has more matches than max_hits; the rest is not reported",
                extra={
                    "rule_id": rule_key,
                    "total": paged.total,
                    "reported": paged.fetched,
                    "overflow": paged.overflow,
                    "start": iso_epoch(w.start),
                    "end": iso_epoch(w.end),
                    "unreported_from": paged.last_timestamp,
                },
            )

    def _search_rule(self, item: ScheduledRule, w: Window) -> Iterator[Detection]:
        r = item.rule
        for h in self._hits(item.es_query(), w, rule_key=item.key):
            src = h["_source"]
            ts = str(src.get("@timestamp", ""))
            yield (
                Detection(
                    rule_id=item.key,
                    rule_title=r.title,
                    level=_level(r),
                    status=_status(r),
                    tags=[str(t) for t in r.tags],
                    events=[MatchedEvent(h["_id"], h["_index"], src)],
                    timestamp=ts,
                    first_timestamp=ts,
                    mode="scheduled",
                    id=detection_id(item.key, h["_id"]),
                    rule_description=r.description or "",
                    references=list(r.references),
                    falsepositives=list(r.falsepositives),
                    fields=list(r.fields),
                    custom=dict(r.custom_attributes),
                )
            )

    # -- correlations ---------------------------------------------------------------------
    def _search_correlation(self, item: ScheduledCorrelation, w: Window) -> list[Detection]:
        """Groups with events stored in ``w`` are replayed over every stored event of the
        group within ``timespan`` of those events' ``@timestamp`` (stored before ``w.end``),
        and the detections that include an event stored in ``w`` are kept: a late burst is
        correlated when it arrives, with the same detections (ids from the events) as if it
        had arrived at once."""
        c = item.compiled
        grouped = bool(c.group_by) and not c.aliases
        out: list[Detection] = []
        for terms, lo, hi in self._new_extents(item, w, grouped):
            extra = [
                self._span("@timestamp", lo - c.timespan, hi + c.timespan + 0.001),
                self._range(None, w.end),
                *terms,
            ]
            hits = self._hits(item.es_query(), Window(0.0, w.end), extra, item.key, window=False)
            # windows still open at the window's end are not closed (a "lt" condition could
            # still be broken by events arriving later)
            out += self._replay(item, hits, w, min(hi + c.timespan, w.end))
        return out

    def _new_extents(
        self, item: ScheduledCorrelation, w: Window, grouped: bool
    ) -> Iterator[tuple[list[dict[str, Any]], float, float]]:
        """(group terms, first and last ``@timestamp``) of the matching events stored in
        ``w``: per group-by bucket, or one extent over all of them (aliased or ungrouped
        correlations)."""
        c = item.compiled
        ext = {"lo": {"min": {"field": "@timestamp"}}, "hi": {"max": {"field": "@timestamp"}}}
        query = {"bool": {"filter": [self._range(w.start, w.end), item.es_query()]}}
        common: dict[str, Any] = {
            "index": self.index,
            "query": query,
            "size": 0,
            "ignore_unavailable": True,
            "allow_no_indices": True,
        }
        if not grouped:
            resp = self.client.search(**common, aggs=ext)
            aggs = resp.get("aggregations") or {}
            lo, hi = (aggs.get(k, {}).get("value") for k in ("lo", "hi"))
            if lo is not None and hi is not None:
                yield [], float(lo) / 1000, float(hi) / 1000
            return
        after: dict[str, Any] | None = None
        sources = [{f: {"terms": {"field": f}}} for f in c.group_by]
        while True:
            comp: dict[str, Any] = {"size": 1000, "sources": sources}
            if after:
                comp["after"] = after
            resp = self.client.search(**common, aggs={"g": {"composite": comp, "aggs": ext}})
            agg = (resp.get("aggregations") or {}).get("g")
            if not agg:
                return
            for b in agg["buckets"]:
                terms = [{"term": {f: v}} for f, v in b["key"].items()]
                yield terms, float(b["lo"]["value"]) / 1000, float(b["hi"]["value"]) / 1000
            after = agg.get("after_key")
            if not after or not agg["buckets"]:
                return

    def _replay(
        self,
        item: ScheduledCorrelation,
        hits: Iterable[dict[str, Any]],
        w: Window,
        flush_at: float,
    ) -> list[Detection]:
        """Feed the hits (``@timestamp`` order) through the streaming correlation logic;
        keep the detections with an event stored inside ``w``."""
        engine = CorrelationEngine([item.fresh()], self.s.correlation_max_groups, 10**9)
        out: list[Detection] = []
        for h in hits:
            me = MatchedEvent(h["_id"], h["_index"], h["_source"])
            for base in h.get("matched_queries") or []:
                base_det = Detection(
                    rule_id=base,
                    rule_title="",
                    level="",
                    status="",
                    tags=[],
                    events=[me],
                    timestamp="",
                    first_timestamp="",
                )
                out += engine.process(base_det)
        out += engine.flush(now=flush_at)
        return [d for d in out if any(_stored_in(e.event, w) for e in d.events)]


class ScheduledService:
    """``socmon run`` service: ``run_once`` every ``scheduled_interval`` seconds and, between
    passes, a check of the rule sources every ``store_poll_interval`` seconds (the watcher
    shared with streaming, ``rules.reload``): a reload swaps the runner's rule set and runs
    the added and changed rules at once, so they are queried within one poll interval."""

    name = "scheduled-detection"

    def __init__(
        self,
        runner: ScheduledRunner,
        interval: float,
        watcher: RuleWatcher,
        convert: Callable[[Any], ScheduledSet],
        poll_interval: float | None = None,
        more: list[tuple[ScheduledRunner, Callable[[Any], ScheduledSet]]] | None = None,
    ) -> None:
        self.runner = runner
        # the runners over external sources, each with its own conversion of the rules
        self.more = list(more or [])
        self.interval = interval
        self.watcher = watcher
        self._convert = convert
        self._generation = watcher.generation
        self.poll_interval = poll_interval or interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def maybe_reload(self) -> RuleChanges | None:
        """Swap in the watcher's newer rules, if any; the changes, or None."""
        got = self.watcher.poll(self._generation)
        if got is None:
            return None
        self._generation, loaded = got
        for runner, conv in self.more:
            runner.replace(conv(loaded))
        return self.runner.replace(self._convert(loaded))

    def _loop(self) -> None:
        next_run = time.monotonic()
        while not self._stop.is_set():
            due = time.monotonic() >= next_run
            try:
                changes = self.maybe_reload()
                runners = [self.runner, *(r for r, _ in self.more)]
                if due:
                    for r in runners:
                        r.run_once()
                elif changes and (changes.added or changes.changed):
                    for r in runners:
                        r.run_once(changes.added | changes.changed)
            except Exception:
                ERRORS.labels("unexpected").inc()
                log.exception("scheduled detection pass failed; retrying next interval")
            if due:
                next_run = time.monotonic() + self.interval
            self._stop.wait(max(0.0, min(self.poll_interval, next_run - time.monotonic())))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def _converter(placeholders: Any, options: dict[str, Any]) -> Callable[[Any], ScheduledSet]:
    """Loaded rules -> scheduled set with an external source's mapping options."""
    from socmon.rules.scheduled_convert import convert

    def conv(rules: Any) -> ScheduledSet:
        return convert(rules, placeholders, **options)

    return conv


def scheduled_service(ctx: Any, loaded: Any, watcher: RuleWatcher) -> ScheduledService | None:
    """The scheduled-detection service of ``socmon run`` (``ctx``: ``socmon.runner.RunContext``;
    ``loaded``: ``rules.loader.LoadedRules``; ``watcher``: the rule watcher shared with
    streaming, which reloads the rules when the store changes), or None when disabled."""
    from socmon.rules.scheduled_convert import convert
    from socmon.rules.scheduled_output import DetectionOutput

    s: DetectionSettings = ctx.settings.detection
    if not s.scheduled_enabled:
        log.info("scheduled detection disabled (detection.scheduled_enabled)")
        return None
    placeholders = getattr(s, "placeholders", None)
    converted = convert(loaded, placeholders)
    output = DetectionOutput(ctx.client, ctx.names, ctx.detection_handler)
    runner = ScheduledRunner(ctx.client, ctx.names, converted, s, output)
    more: list[tuple[ScheduledRunner, Callable[[Any], ScheduledSet]]] = []
    for ext in externals(ctx.settings):
        conv = _converter(placeholders, ext.convert_options)
        if ext.src.install_template:
            install_external_template(ctx.client, ctx.names, ext.name, ext.patterns)
        ext_runner = ScheduledRunner(ctx.client, ctx.names, conv(loaded), s, output, external=ext)
        more.append((ext_runner, conv))
        log.info(
            "scheduled detection covers an external source",
            extra={"source": ext.name, "index": ext.index},
        )
    log.info(
        "scheduled detection ready",
        extra={
            "rules": len(converted.rules),
            "correlations": len(converted.correlations),
            "problems": len(converted.problems),
        },
    )
    poll = min(s.store_poll_interval, s.scheduled_interval) if s.store_rules else None
    return ScheduledService(
        runner,
        s.scheduled_interval,
        watcher,
        lambda rules: convert(rules, placeholders),
        poll,
        more,
    )
