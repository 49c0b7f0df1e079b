"""Elasticsearch cluster health, node count and disk use as Prometheus gauges, read from the
cluster by a poller inside ``socmon run`` (so a province needs no separate exporter).

Names follow the Elasticsearch exporter's where one exists (``..._health_status{color}`` is 1
for the current colour, 0 for the others). While the cluster does not answer,
``socmon_es_up`` is 0 and the cluster gauges are absent rather than stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from socmon.metrics import REGISTRY

log = logging.getLogger(__name__)

COLORS = ("green", "yellow", "red")
WATERMARKS = ("low", "high", "flood_stage")


@dataclass
class ClusterSnapshot:
    """What one poll read; ``up`` False means the cluster did not answer."""

    up: bool = False
    status: str | None = None
    nodes: int = 0
    data_nodes: int = 0
    unassigned_shards: int = 0
    # node name -> (total bytes, available bytes) of its data paths
    disks: dict[str, tuple[int, int]] = field(default_factory=dict)
    # watermark level -> ratio of disk used (only percentage/ratio watermarks)
    watermarks: dict[str, float] = field(default_factory=dict)
    polled_at: float = 0.0


def watermark_ratio(value: Any) -> float | None:
    """``"85%"`` -> 0.85, ``"0.85"`` -> 0.85; absolute sizes (``"50gb"``) -> None."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    try:
        if v.endswith("%"):
            return float(v[:-1]) / 100.0
        r = float(v)
    except ValueError:
        return None
    return r if 0.0 <= r <= 1.0 else None


def _setting(settings: dict[str, Any], dotted: str) -> Any:
    """A setting from GET _cluster/settings (flat or nested keys), persistent over defaults."""
    for scope in ("transient", "persistent", "defaults"):
        node: Any = settings.get(scope, {})
        if dotted in node:
            return node[dotted]
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def read_cluster(client: Elasticsearch, timeout: float = 5.0) -> ClusterSnapshot:
    """One poll: cluster health, per-node filesystem stats, disk watermarks."""
    c = client.options(request_timeout=timeout)
    try:
        h = c.cluster.health()
    except Exception as e:
        log.debug("cluster health not read", extra={"error": str(e)})
        return ClusterSnapshot(polled_at=time.time())
    snap = ClusterSnapshot(
        up=True,
        status=h.get("status"),
        nodes=int(h.get("number_of_nodes", 0)),
        data_nodes=int(h.get("number_of_data_nodes", 0)),
        unassigned_shards=int(h.get("unassigned_shards", 0)),
        polled_at=time.time(),
    )
    try:
        stats = c.nodes.stats(metric="fs")
        for node in stats.get("nodes", {}).values():
            total = node.get("fs", {}).get("total", {})
            if "total_in_bytes" in total:
                snap.disks[node.get("name", "?")] = (
                    int(total["total_in_bytes"]),
                    int(total.get("available_in_bytes", 0)),
                )
        cs = dict(c.cluster.get_settings(include_defaults=True, flat_settings=True))
        for level in WATERMARKS:
            r = watermark_ratio(_setting(cs, f"cluster.routing.allocation.disk.watermark.{level}"))
            if r is not None:
                snap.watermarks[level] = r
    except Exception as e:  # health answered: keep it, say what is missing
        log.warning("Elasticsearch disk stats not read", extra={"error": str(e)})
    return snap


class ClusterCollector(Collector):
    """Exposes the latest snapshot (set by the poller)."""

    def __init__(self) -> None:
        self.snapshot = ClusterSnapshot()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.snapshot
        yield GaugeMetricFamily(
            "socmon_es_up", "1 when the last poll of the cluster's health answered.", s.up
        )
        if not s.up:
            return
        status = GaugeMetricFamily(
            "socmon_es_cluster_health_status",
            "Cluster health: 1 for the current colour, 0 for the others.",
            labels=["color"],
        )
        for color in COLORS:
            status.add_metric([color], 1.0 if s.status == color else 0.0)
        yield status
        yield GaugeMetricFamily("socmon_es_cluster_nodes", "Nodes in the cluster.", float(s.nodes))
        yield GaugeMetricFamily(
            "socmon_es_cluster_data_nodes", "Data nodes in the cluster.", float(s.data_nodes)
        )
        yield GaugeMetricFamily(
            "socmon_es_cluster_unassigned_shards",
            "Shards not assigned to any node.",
            float(s.unassigned_shards),
        )
        total = GaugeMetricFamily(
            "socmon_es_node_fs_total_bytes",
            "Size of a node's data paths.",
            labels=["node"],
        )
        avail = GaugeMetricFamily(
            "socmon_es_node_fs_available_bytes",
            "Bytes available on a node's data paths.",
            labels=["node"],
        )
        for node, (t, a) in sorted(s.disks.items()):
            total.add_metric([node], float(t))
            avail.add_metric([node], float(a))
        yield total
        yield avail
        wm = GaugeMetricFamily(
            "socmon_es_disk_watermark_ratio",
            "Disk-use ratio of the cluster's allocation watermarks (low, high, flood_stage).",
            labels=["level"],
        )
        for level, r in s.watermarks.items():
            wm.add_metric([level], r)
        yield wm

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


CLUSTER = ClusterCollector()
REGISTRY.register(CLUSTER)


class ClusterMetricsService:
    """Polls the cluster every ``interval`` seconds (a `socmon run` service)."""

    name = "es-metrics"

    def __init__(self, client: Elasticsearch, interval: float) -> None:
        self.client = client
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="es-metrics", daemon=True)

    def poll(self) -> None:
        CLUSTER.snapshot = read_cluster(self.client, timeout=min(10.0, self.interval))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("Elasticsearch metrics poll failed; will retry")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
