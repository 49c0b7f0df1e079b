"""Settings section for this layer.

Sigma detection (issue 5): rule sources, streaming and scheduled modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from socmon.settings.base import PACKAGE_DIR, Section


class DetectionSettings(Section):
    """Sigma detection (issue 5): rule sources, streaming and scheduled modes."""

    # --- rule sources and the streaming engine (rules/loader.py, rules/engine.py) ---
    rule_paths: list[Path] = Field(
        default_factory=lambda: [PACKAGE_DIR / "rules" / "sigma"],
        description="Sigma rule files/directories loaded at start (default: the shipped rules).",
    )
    extra_rule_paths: list[Path] = Field(
        default_factory=list,
        description="More rule files/directories, e.g. a SigmaHQ checkout (JSON list in env).",
    )
    store_rules: bool = Field(
        True, description="Also load the enabled rules of the rule store in Elasticsearch."
    )
    store_poll_interval: float = Field(
        30.0, gt=0, description="Seconds between checks of the rule store; reload on change."
    )
    placeholders: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Values of Sigma %placeholders% (expand modifier), e.g. "
        '{"Admins": ["root"]}. Undefined ones never match (reported as warnings).',
    )
    streaming_enabled: bool = Field(True, description="Run the streaming engine on events.")
    streaming_queue_size: int = Field(
        10_000,
        gt=0,
        description="Streaming: events queued for matching; collectors wait when it is full.",
    )

    # --- correlation (rules/correlation.py) ---
    correlation_max_groups: int = Field(
        10_000, gt=0, description="Correlation: open groups kept per rule (oldest evicted)."
    )
    correlation_max_events_per_group: int = Field(
        1_000, gt=0, description="Correlation: events kept per group (oldest evicted)."
    )
    correlation_state: Literal["es", "file", "off"] = Field(
        "es",
        description="Correlation windows persisted to the state index (es), a file under "
        "var_dir (file), or not at all (off).",
    )
    correlation_state_interval: float = Field(
        30.0, gt=0, description="Correlation: seconds between state snapshots."
    )
    # --- scheduled mode (rules/scheduled.py) ---
    scheduled_enabled: bool = Field(True, description="Run rules as scheduled ES queries.")
    scheduled_interval: float = Field(60.0, gt=0, description="Scheduled: seconds between runs.")
    scheduled_lookback: float = Field(
        300.0,
        ge=0,
        description="Scheduled: seconds re-queried before the covered end (late events).",
    )
    scheduled_delay: float = Field(
        5.0, ge=0, description="Scheduled: newest seconds left for the next run (refresh lag)."
    )
    scheduled_max_catchup: float = Field(
        86_400.0,
        gt=0,
        description="Scheduled: longest past period caught up after an outage; older is a gap.",
    )
    scheduled_chunk: float = Field(
        3_600.0, gt=0, description="Scheduled: longest time window one query covers."
    )
    scheduled_max_hits: int = Field(
        100_000,
        gt=0,
        le=10_000_000,
        description="Scheduled: hard bound of matches reported per rule per window (paged); "
        "the excess is counted (socmon_scheduled_overflow_hits_total) and logged.",
    )
    scheduled_page_size: int = Field(
        1_000,
        gt=0,
        le=10_000,
        description="Scheduled: matches fetched per request (search_after over a point in "
        "time beyond the first page).",
    )
