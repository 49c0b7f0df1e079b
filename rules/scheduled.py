"""Scheduled mode: rules run as Elasticsearch queries over ``<prefix>-events-*``.

Each run, for each rule, covers the event time from where the rule's coverage ended up to
``now - delay`` (the newest seconds are left to the next run: documents may not be refreshed
yet), re-reading ``lookback`` seconds before that point for late-arriving events. Coverage is
persisted per rule in the state index (``_id = "scheduled:<rule id>"``, ``covered_until``)
after every successful window, so:

- a restart or a slow run resumes where coverage ended (catch up, in ``chunk``-sized windows);
- an outage longer than ``max_catchup`` leaves a gap, which is counted
  (``socmon_scheduled_gaps_total``, ``socmon_scheduled_gap_seconds_total``) and logged;
- re-reading overlapping windows never alerts twice: detection ids are deterministic
  (``rules.scheduled.detection_id``: rule id + event id, the same as the streaming engine's),
  and the alerts index is written with ``create``.

Single-event rules are one ``query_string`` search each. Correlation rules use a composite
aggregation over the group-by fields as a prefilter (this Elasticsearch has no painless, so
no ``bucket_selector``: the condition is tested in Python on the buckets), then fetch the
candidate groups' events and replay them through the streaming correlation logic
(``rules.correlation``), so both modes apply exactly the same window semantics. Correlations
with aliases (different fields per rule) or non-monotone conditions skip the prefilter.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from prometheus_client import Counter, Gauge, Histogram
from sigma.correlations import SigmaCorrelationType

from rules.correlation import MONOTONIC_OPS, CorrelationEngine, parse_timestamp
from rules.detection import Detection, MatchedEvent
from rules.scheduled_convert import ScheduledCorrelation, ScheduledRule, ScheduledSet
from socmon.ids import doc_id
from socmon.indices import IndexNames
from socmon.metrics import REGISTRY
from socmon.settings.detection import DetectionSettings

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
DETECTIONS = Counter(
    "socmon_scheduled_detections_total",
    "Detections produced by scheduled mode (new: delivered; duplicate: already stored).",
    ["outcome"],
    registry=REGISTRY,
)


def detection_id(rule_key: str, event_id: str) -> str:
    """The id of a single-event detection: the same in streaming and scheduled mode
    (``rules.engine.detection_for``)."""
    return doc_id("detection", rule_key, event_id)


def _iso(t: float) -> str:
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    return d.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _level(rule: Any) -> str:
    return rule.level.name.lower() if rule.level is not None else "medium"


def _status(rule: Any) -> str:
    return rule.status.name.lower() if rule.status is not None else ""


@dataclass
class Window:
    start: float  # epoch seconds, inclusive
    end: float  # exclusive


class CoverageStore:
    """Per-rule ``covered_until`` in the state index."""

    def __init__(self, client: Elasticsearch, names: IndexNames) -> None:
        self.client = client
        self.index = names.state

    @staticmethod
    def _id(rule_key: str) -> str:
        return f"scheduled:{rule_key}"

    def get(self, rule_key: str) -> float | None:
        try:
            got = self.client.get(index=self.index, id=self._id(rule_key))
        except NotFoundError:
            return None
        return parse_timestamp(got["_source"].get("covered_until"))

    def set(self, rule_key: str, covered_until: float) -> None:
        now = _iso(time.time())
        self.client.index(
            index=self.index,
            id=self._id(rule_key),
            document={
                "kind": "scheduled",
                "rule_id": rule_key,
                "covered_until": _iso(covered_until),
                "@timestamp": now,
                "updated": now,
            },
        )


class ScheduledRunner:
    """Runs converted rules over the events indices, tracking coverage per rule."""

    def __init__(
        self,
        client: Elasticsearch,
        names: IndexNames,
        rules: ScheduledSet,
        settings: DetectionSettings,
        output: Callable[[Detection], bool],
        index_pattern: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.names = names
        self.set = rules
        self.s = settings
        self.output = output
        self.index = index_pattern or names.events_pattern
        self.coverage = CoverageStore(client, names)
        self.clock = clock

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
                    "gap_start": _iso(covered),
                    "gap_end": _iso(oldest),
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

    # -- one pass -----------------------------------------------------------------------
    def run_once(self) -> int:
        """One pass over every rule; returns the number of new detections."""
        began = time.monotonic()
        new = 0
        now = self.clock()
        # base rules only referenced by correlations (no `generate`) are not reported alone
        items: list[ScheduledRule | ScheduledCorrelation] = [
            r for r in self.set.rules if r.key not in self.set.suppressed
        ]
        items += self.set.correlations
        for item in items:
            new += self._run_rule(item, now)
        RUN_SECONDS.observe(time.monotonic() - began)
        return new

    def _run_rule(self, item: ScheduledRule | ScheduledCorrelation, now: float) -> int:
        windows, _ = self.windows(item.key, now)
        new = 0
        for w in windows:
            try:
                if isinstance(item, ScheduledRule):
                    dets = self._search_rule(item, w)
                else:
                    dets = self._search_correlation(item, w)
            except (ApiError, TransportError) as e:
                ERRORS.labels("elasticsearch").inc()
                log.warning(
                    "scheduled rule window failed; retried next run",
                    extra={"rule_id": item.key, "start": _iso(w.start), "error": str(e)},
                )
                break
            for d in dets:
                if self.output(d):
                    new += 1
                    DETECTIONS.labels("new").inc()
                else:
                    DETECTIONS.labels("duplicate").inc()
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
    def _range(self, start: float, end: float) -> dict[str, Any]:
        return {
            "range": {
                "@timestamp": {
                    "gte": _iso(start),
                    "lt": _iso(end),
                    "format": "strict_date_optional_time",
                }
            }
        }

    def _hits(
        self, query: dict[str, Any], w: Window, extra: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        body_filter = [self._range(w.start, w.end), query, *(extra or [])]
        resp = self.client.search(
            index=self.index,
            query={"bool": {"filter": body_filter}},
            sort=[{"@timestamp": "asc"}],
            size=self.s.scheduled_max_hits,
            track_total_hits=True,
            ignore_unavailable=True,
            allow_no_indices=True,
            # skip daily indices outside the time range before rewriting the query (large
            # wildcard lists are expensive to rewrite on every shard)
            pre_filter_shard_size=1,
        )
        total = resp["hits"]["total"]["value"]
        hits: list[dict[str, Any]] = resp["hits"]["hits"]
        if total > len(hits):
            TRUNCATED.inc()
            log.warning(
                "scheduled window has more matches than max_hits",
                extra={"total": total, "fetched": len(hits), "start": _iso(w.start)},
            )
        return hits

    def _search_rule(self, item: ScheduledRule, w: Window) -> list[Detection]:
        out = []
        r = item.rule
        for h in self._hits(item.es_query(), w):
            src = h["_source"]
            ts = str(src.get("@timestamp", ""))
            out.append(
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
        return out

    # -- correlations ---------------------------------------------------------------------
    def _search_correlation(self, item: ScheduledCorrelation, w: Window) -> list[Detection]:
        c = item.compiled
        # read enough history for windows ending inside w
        span = Window(w.start - c.timespan, w.end)
        groups: list[dict[str, Any]] | None = None
        if c.group_by and not c.aliases and c.op in MONOTONIC_OPS:
            groups = list(self._candidate_groups(item, span))
            if not groups:
                return []
        if groups is None:
            return self._replay(item, self._hits(item.es_query(), span), w)
        out: list[Detection] = []
        for g in groups:
            terms = [{"term": {f: v}} for f, v in g.items()]
            out += self._replay(item, self._hits(item.es_query(), span, terms), w)
        return out

    def _candidate_groups(self, item: ScheduledCorrelation, w: Window) -> Iterator[dict[str, Any]]:
        """Group-by buckets whose whole-window measure meets the condition (a necessary
        condition for a sliding window inside it to meet it, as the measures are monotone)."""
        c = item.compiled
        sub: dict[str, Any] = {}
        # value_count: the bucket's doc count bounds the distinct count (a `cardinality`
        # would be approximate and, on lowercase-normalised fields, case-insensitive)
        if c.type is SigmaCorrelationType.VALUE_SUM and c.value_field:
            sub["m"] = {"sum": {"field": c.value_field}}
        elif c.type in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED):
            sub = {
                f"r{i}": {"filter": {"query_string": {"query": q, "lenient": True}}}
                for i, q in enumerate(item.queries.values())
            }
        after: dict[str, Any] | None = None
        sources = [{f: {"terms": {"field": f}}} for f in c.group_by]
        while True:
            comp: dict[str, Any] = {"size": 1000, "sources": sources}
            if after:
                comp["after"] = after
            resp = self.client.search(
                index=self.index,
                query={"bool": {"filter": [self._range(w.start, w.end), item.es_query()]}},
                size=0,
                aggs={"g": {"composite": comp, "aggs": sub}},
                ignore_unavailable=True,
                allow_no_indices=True,
                pre_filter_shard_size=1,
            )
            agg = (resp.get("aggregations") or {}).get("g")
            if not agg:
                return
            for b in agg["buckets"]:
                if self._bucket_may_match(item, b):
                    yield b["key"]
            after = agg.get("after_key")
            if not after or not agg["buckets"]:
                return

    @staticmethod
    def _bucket_may_match(item: ScheduledCorrelation, b: dict[str, Any]) -> bool:
        c = item.compiled
        if c.type in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED):
            return all(b[f"r{i}"]["doc_count"] > 0 for i in range(len(item.queries)))
        if c.type in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT):
            measure = float(b["doc_count"])
        elif "m" in b:
            measure = float(b["m"].get("value") or 0.0)
        else:
            return True
        # gt/gte only (monotone): the whole window's measure bounds any sub-window's
        return measure > c.count if c.op.name == "GT" else measure >= c.count

    def _replay(
        self, item: ScheduledCorrelation, hits: list[dict[str, Any]], w: Window
    ) -> list[Detection]:
        """Feed the hits (time order) through the streaming correlation logic; keep the
        detections completed inside ``w``."""
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
        out += engine.flush(now=w.end)
        kept = []
        for d in out:
            t = parse_timestamp(d.timestamp)
            if t is not None and w.start <= t < w.end:
                kept.append(d)
        return kept


class ScheduledService:
    """``socmon run`` service: ``run_once`` every ``scheduled_interval`` seconds."""

    name = "scheduled-detection"

    def __init__(self, runner: ScheduledRunner, interval: float) -> None:
        self.runner = runner
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.run_once()
            except Exception:
                ERRORS.labels("unexpected").inc()
                log.exception("scheduled detection pass failed; retrying next interval")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def scheduled_service(ctx: Any, loaded: Any) -> ScheduledService | None:
    """The scheduled-detection service of ``socmon run`` (``ctx``: ``socmon.runner.RunContext``;
    ``loaded``: ``rules.loader.LoadedRules``), or None when disabled in settings."""
    from rules.scheduled_convert import convert
    from rules.scheduled_output import DetectionOutput

    s: DetectionSettings = ctx.settings.detection
    if not s.scheduled_enabled:
        log.info("scheduled detection disabled (detection.scheduled_enabled)")
        return None
    placeholders = getattr(s, "placeholders", None)
    converted = convert(loaded, placeholders)
    output = DetectionOutput(ctx.client, ctx.names, ctx.detection_handler)
    runner = ScheduledRunner(ctx.client, ctx.names, converted, s, output)
    log.info(
        "scheduled detection ready",
        extra={
            "rules": len(converted.rules),
            "correlations": len(converted.correlations),
            "problems": len(converted.problems),
        },
    )
    return ScheduledService(runner, s.scheduled_interval)
