"""Settings section for this layer.

Sigma detection (issue 5): rule sources, streaming and scheduled modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from socmon.settings.base import PACKAGE_DIR, Section


class ExternalSource(Section):
    """Indices other shippers write (Winlogbeat or Elastic Agent straight to Elasticsearch)
    that scheduled detection and the events search also cover."""

    name: str = Field(
        ..., min_length=1, pattern=r"^[a-z0-9_-]+$", description="Short name (coverage, logs)."
    )
    index: str = Field(
        ...,
        min_length=1,
        description="Index pattern(s), comma-separated, e.g. 'winlogbeat-*' or "
        "'logs-*,.ds-logs-*'.",
    )
    windows_event_data: bool = Field(
        False,
        description="Windows fields stay under winlog.event_data.<Name> (documents as "
        "Winlogbeat sends them, without the ECS fields its ingest pipelines add); false: the "
        "ECS names socmon's own Windows events carry (process.command_line, ...).",
    )
    field_map: dict[str, str] = Field(
        default_factory=dict,
        description="More renames, socmon field -> field of these documents, applied to the "
        "rules' queries last (e.g. {'organization.id': 'labels.unit'}).",
    )
    unit_field: str | None = Field(
        None,
        description="A field of these documents holding the organisation unit id; when unset, "
        "collectors.organization_units' hosts globs (host.name) then agents globs "
        "(agent.name) decide, at query time.",
    )
    install_template: bool = Field(
        False,
        description="Put socmon's events mapping (Sigma-matched fields lowercase-normalised, "
        "so matching is case-insensitive as Sigma wants) as an index template for this "
        "pattern; only indices created afterwards get it.",
    )


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
    rule_cache_dir: Path | None = Field(
        None,
        description="Compiled rule sets, keyed by the rules' content and socmon's version "
        "(rules/cache.py; unset: `<var_dir>/rule-cache`).",
    )
    rule_cache: bool = Field(
        True, description="Use the compiled rule cache (streaming engine, reloads, hunt)."
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
    external_sources: list[ExternalSource] = Field(
        default_factory=list,
        description="Other shippers' index patterns scheduled detection (and the events "
        "search) also cover, each with its field mapping and unit rule.",
    )
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
