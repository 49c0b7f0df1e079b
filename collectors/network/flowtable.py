"""The flow table: open flows by key, and their end (TCP close after a linger, idle and active
timeouts checked a slice at a time, eviction when full, end of capture).

The packet loop (``engine.PacketProcessor``) reads and updates ``flows`` and appends closed
TCP flows to ``closing`` itself (the hot path); every flow that ends goes to ``on_end(flow,
reason)`` exactly once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from socmon.collectors.network.flows import FIN, RST, V6_BIT, Flow
from socmon.settings.network import NetworkSettings

SWEEP_SLICE = 2048  # flows checked per timer step


def flow_key(sa: int, da: int, sp: int, dp: int, proto: int, v6: bool) -> int:
    """The canonical key of a flow (lower address first), the same for both directions.
    (The packet loop computes it inline; this is the same layout.)"""
    if sa < da or (sa == da and sp <= dp):
        key = (sa << 168) | (da << 40) | (sp << 24) | (dp << 8) | proto
    else:
        key = (da << 168) | (sa << 40) | (dp << 24) | (sp << 8) | proto
    return key | V6_BIT if v6 else key


class FlowTable:
    def __init__(self, settings: NetworkSettings, on_end: Callable[[Flow, str], None]) -> None:
        self.s = settings
        self.on_end = on_end
        self.flows: dict[int, Flow] = {}
        self.closing: deque[tuple[float, int, Flow]] = deque()  # (close time, key, flow)
        self.evicted = 0
        self._sweep_keys: list[int] = []
        self._sweep_pos = 0
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self.flows)

    def lookup(self, sa: int, da: int, sp: int, dp: int, proto: int, v6: bool) -> Flow | None:
        return self.flows.get(flow_key(sa, da, sp, dp, proto, v6))

    def close_due(self, ts: float) -> None:
        """End the closed TCP flows whose linger has passed."""
        closing = self.closing
        linger = self.s.flow_tcp_closed_linger
        while closing and closing[0][0] + linger <= ts:
            _t, key, f = closing.popleft()
            if self.flows.get(key) is f:
                del self.flows[key]
                self.on_end(f, "rst" if (f.orig_flags | f.resp_flags) & RST else "fin")

    def sweep_step(self, ts: float, pkt_no: int) -> None:
        """Check the next slice of the table for idle/active timeouts; a full pass takes as
        many packets as there are flows, and starts at most every sweep interval."""
        if self._sweep_pos >= len(self._sweep_keys):
            if ts < self._next_sweep:
                return
            self._next_sweep = ts + self.s.flow_sweep_interval
            self._sweep_keys = list(self.flows)
            self._sweep_pos = 0
        keys = self._sweep_keys[self._sweep_pos : self._sweep_pos + SWEEP_SLICE]
        self._sweep_pos += SWEEP_SLICE
        self.expire(keys, ts, pkt_no)

    def expire(self, keys: Iterable[int], ts: float, pkt_no: int) -> None:
        idle = self.s.flow_idle_timeout
        active = self.s.flow_active_timeout
        flows = self.flows
        for key in keys:
            f = flows.get(key)
            if f is None:
                continue
            if ts - f.last > idle:
                del flows[key]
                self.on_end(f, "idle_timeout")
            elif ts - f.first > active:
                self.on_end(f, "active_timeout")
                # restart the flow record in place, keeping its direction
                nf = Flow(
                    f.addr_a, f.addr_b, f.port_a, f.port_b, f.proto, f.v6, f.orig_side, ts, pkt_no
                )
                nf.orig_flags = f.orig_flags & ~(FIN | RST)
                nf.resp_flags = f.resp_flags & ~(FIN | RST)
                nf.vlan = f.vlan
                nf.app, nf.cached_community_id = f.app, f.cached_community_id
                flows[key] = nf

    def expire_all(self, ts: float, pkt_no: int) -> None:
        """Every timer at wall-clock time ``ts`` (live capture with little traffic)."""
        if self.closing:
            self.close_due(ts)
        self.expire(list(self.flows), ts, pkt_no)

    def evict(self) -> None:
        """The table is full: end the oldest 1% of the flows."""
        n = max(1, self.s.flow_max // 100)
        victims = []
        for key in self.flows:
            victims.append(key)
            if len(victims) >= n:
                break
        for key in victims:
            self.on_end(self.flows.pop(key), "evicted")
        self.evicted += len(victims)

    def end_all(self) -> None:
        """End of capture: every open flow ends."""
        for f in list(self.flows.values()):
            self.on_end(f, "fin" if f.closed else "end_of_capture")
        self.flows.clear()
        self.closing.clear()
