"""Prometheus metrics of the streaming detection engine (one place, registered once)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from socmon.metrics import REGISTRY


@dataclass(frozen=True, slots=True)
class EngineMetrics:
    """The metrics a streaming engine (and the loading before it) updates. ``SERVICE`` is
    the service's, on the exposed registry; ``UNEXPOSED`` is for engines built for one request
    (a rule validated or tested through the API), whose rules and events are not the
    service's and must not change its figures."""

    problems: Counter
    rules: Gauge
    events: Counter
    detections: Counter
    event_errors: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> EngineMetrics:
        return cls(
            problems=Counter(
                "socmon_rules_problems_total",
                "Sigma rules (or rule files) that could not be loaded or compiled, by stage "
                "and kind",
                ["stage", "kind"],
                registry=registry,
            ),
            rules=Gauge(
                "socmon_rules_streaming_rules",
                "Sigma rules compiled into the streaming engine",
                registry=registry,
            ),
            events=Counter(
                "socmon_rules_streaming_events_total",
                "Events evaluated by the streaming engine",
                registry=registry,
            ),
            detections=Counter(
                "socmon_rules_streaming_detections_total",
                "Detections produced by the streaming engine, by level",
                ["level"],
                registry=registry,
            ),
            event_errors=Counter(
                "socmon_rules_streaming_event_errors_total",
                "Events the streaming engine could not evaluate (bad shape), by reason",
                ["reason"],
                registry=registry,
            ),
        )


SERVICE = EngineMetrics.on(REGISTRY)
UNEXPOSED = EngineMetrics.on(CollectorRegistry(auto_describe=True))
EVENT_ERRORS = SERVICE.event_errors
MATCH_SECONDS = Histogram(
    "socmon_rules_streaming_match_seconds",
    "Time to evaluate one event against all streaming rules",
    buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.05),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "socmon_rules_streaming_queue_depth",
    "Events waiting for the streaming engine (collectors wait when it reaches its capacity)",
    registry=REGISTRY,
)
QUEUE_CAPACITY = Gauge(
    "socmon_rules_streaming_queue_capacity",
    "Capacity of the streaming engine's queue (detection.streaming_queue_size)",
    registry=REGISTRY,
)
QUEUE_WAIT = Gauge(
    "socmon_rules_streaming_queue_wait_seconds",
    "Seconds the last evaluated event waited in the queue (streaming detection lag)",
    registry=REGISTRY,
)
RELOADS = Counter(
    "socmon_rules_reloads_total",
    "Rebuilds of the streaming engine after a change of the rule sources, by outcome "
    "(ok, failed: the previous rules are kept)",
    ["outcome"],
    registry=REGISTRY,
)
HUNT_INPUT_ERRORS = Counter(
    "socmon_hunt_input_errors_total",
    "Input records `socmon hunt` could not read, by reason",
    ["reason"],
    registry=REGISTRY,
)
