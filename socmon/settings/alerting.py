"""Settings section for this layer.

Alerting (issue 6): grouping, exceptions, notifications, operational alerts. Environment
variables take JSON for the structured fields, e.g.
``SOCMON_ALERTING_CHANNELS='{"soc": {"type": "webhook", "url": "https://..."}}'``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from socmon.settings.base import Section

LEVELS = ("informational", "low", "medium", "high", "critical")
Level = Literal["informational", "low", "medium", "high", "critical"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


class EmailChannel(Section):
    type: Literal["email"] = "email"
    host: str = Field(..., description="SMTP server host.")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587: submission + STARTTLS).")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS.")
    ssl: bool = Field(False, description="Implicit TLS (port 465) instead of STARTTLS.")
    username: str | None = Field(None, description="SMTP AUTH user (unset: no AUTH).")
    password: SecretStr | None = Field(None, description="SMTP AUTH password.")
    sender: str = Field("socmon@localhost", description="From address.")
    recipients: list[str] = Field(..., min_length=1, description="To addresses.")
    ca_certs: Path | None = Field(None, description="CA bundle to verify the server's cert.")
    verify_certs: bool = Field(True, description="Verify the server's TLS certificate.")
    timeout: float = Field(15.0, gt=0, description="Seconds per SMTP session.")


class WebhookChannel(Section):
    """Generic webhook: JSON body, ``X-Socmon-Signature: sha256=<hex HMAC of the body>``."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(..., description="URL the JSON is POSTed to.")
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 key for the signature header.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    timeout: float = Field(10.0, gt=0, description="Seconds per request.")
    verify_certs: bool = Field(True, description="Verify TLS certificates.")


class SlackChannel(Section):
    """Slack or Mattermost incoming webhook (``{"text": ...}``)."""

    type: Literal["slack"] = "slack"
    url: str = Field(..., description="Incoming-webhook URL.")
    username: str | None = Field(None, description="Display name (Mattermost honours it).")
    timeout: float = Field(10.0, gt=0, description="Seconds per request.")
    verify_certs: bool = Field(True, description="Verify TLS certificates.")


class TelegramChannel(Section):
    type: Literal["telegram"] = "telegram"
    bot_token: SecretStr = Field(..., description="Bot token from BotFather.")
    chat_id: str = Field(..., description="Chat, group or channel id.")
    api_base: str = Field(
        "https://api.telegram.org", description="Bot API base URL (a proxy or a test receiver)."
    )
    timeout: float = Field(10.0, gt=0, description="Seconds per request.")
    verify_certs: bool = Field(True, description="Verify TLS certificates.")


Channel = Annotated[
    EmailChannel | WebhookChannel | SlackChannel | TelegramChannel, Field(discriminator="type")
]


class Route(Section):
    """Which notifications go to which channels, and how often."""

    name: str = Field(..., description="Route name (metrics, logs, digests).")
    channels: list[str] = Field(..., min_length=1, description="Channel names (see channels).")
    min_severity: Level = Field("low", description="Lowest severity routed.")
    units: list[str] = Field(
        default_factory=list, description="organization.id values (empty: every unit)."
    )
    rules: list[str] = Field(default_factory=list, description="Rule ids (empty: every rule).")
    kinds: list[str] = Field(
        default_factory=lambda: ["new", "reopened", "sla_breach", "silent", "recovered"],
        description="Notification kinds routed: new, reopened, sla_breach, silent, recovered.",
    )
    quiet_hours: str | None = Field(
        None, description="HH:MM-HH:MM in alerting.timezone: hold messages, send one digest after."
    )
    quiet_bypass_severity: Level | None = Field(
        "critical", description="Severity at or above which quiet hours do not apply (unset: none)."
    )
    digest_interval: float = Field(
        0.0, ge=0, description="Seconds: > 0 collects messages and sends one digest per interval."
    )
    rate_limit: int = Field(
        0, ge=0, description="Messages per rate_period (0: unlimited); the excess goes to a digest."
    )
    rate_period: float = Field(60.0, gt=0, description="Seconds of the rate-limit window.")
    language: Literal["vi", "en"] | None = Field(None, description="Overrides alerting.language.")

    @field_validator("quiet_hours")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not _HHMM.match(v):
            raise ValueError("quiet_hours must look like 22:00-06:30")
        return v


class SilentSourceRule(Section):
    """A source (values of ``field`` in the events indices) silent for ``threshold`` seconds."""

    field: str = Field(
        ...,
        description="Event field naming the source: organization.id, observer.name, "
        "log.source.address, event.dataset, ...",
    )
    threshold: float = Field(3600.0, gt=0, description="Seconds without events before alerting.")
    lookback: float = Field(
        7 * 86400.0, gt=0, description="Seconds of history searched for known sources."
    )
    expected: list[str] = Field(
        default_factory=list, description="Values that must send data even if never seen."
    )
    severity: Level = Field("high", description="Severity of the silent-source alert.")


def _default_risk_scores() -> dict[str, float]:
    return {
        "informational": 10.0,
        "low": 25.0,
        "medium": 50.0,
        "high": 75.0,
        "critical": 95.0,
    }


def _default_sla() -> dict[str, float]:
    return {
        "critical": 900.0,
        "high": 3600.0,
        "medium": 4 * 3600.0,
        "low": 24 * 3600.0,
        "informational": 72 * 3600.0,
    }


class AlertingSettings(Section):
    """Alerting (issue 6): grouping, exceptions, notifications, operational alerts."""

    enabled: bool = Field(True, description="Turn detections into alerts in `socmon run`.")
    # Grouping
    window: float = Field(
        3600.0, gt=0, description="Seconds: matches within this of last_seen join the alert."
    )
    rule_windows: dict[str, float] = Field(
        default_factory=dict, description="Per-rule grouping window (rule id -> seconds)."
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["host.name", "user.name", "source.ip"],
        description="Default group-by fields (organization.id is always added).",
    )
    rule_group_by: dict[str, list[str]] = Field(
        default_factory=dict, description="Per-rule group-by fields (rule id -> fields)."
    )
    reopen_within: float = Field(
        86400.0,
        ge=0,
        description="Seconds after resolution in which a new match reopens a resolved alert; "
        "later matches (and any match of a false_positive alert) start a new alert.",
    )
    severity_overrides: dict[str, Level] = Field(
        default_factory=dict, description="Rule id -> severity (instead of the Sigma level)."
    )
    risk_scores: dict[str, float] = Field(
        default_factory=_default_risk_scores,
        description="Risk score by severity (levels left out keep their default).",
    )
    sla: dict[str, float] = Field(
        default_factory=_default_sla,
        description="Seconds an alert may stay open (unacknowledged), by severity (levels "
        "left out keep their default).",
    )
    max_event_refs: int = Field(100, ge=1, description="Event references kept per alert.")
    max_samples: int = Field(5, ge=0, description="Matched events embedded per alert.")
    batch_size: int = Field(1000, ge=1, description="Detections handled per batch.")
    batch_wait: float = Field(0.2, gt=0, description="Seconds to wait to fill a batch.")
    queue_size: int = Field(
        50_000, ge=1, description="Detections waiting for alerting before detection blocks."
    )
    exceptions_refresh: float = Field(
        30.0, gt=0, description="Seconds between reloads of the exceptions."
    )
    # Notifications
    language: Literal["vi", "en"] = Field("vi", description="Message language.")
    base_url: str = Field("http://127.0.0.1:8000", description="Base URL of links to alerts.")
    alert_path: str = Field("/alerts/{id}", description="Path of an alert page ({id}).")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Time zone of quiet hours and messages.")
    channels: dict[str, Channel] = Field(
        default_factory=dict, description="Notification channels by name."
    )
    routes: list[Route] = Field(default_factory=list, description="Notification routes.")
    retry_max_attempts: int = Field(
        20,
        ge=1,
        description="Delivery attempts before dead letter (the default, with retry_initial 1 "
        "and retry_max 300, keeps retrying for about an hour).",
    )
    retry_initial: float = Field(1.0, gt=0, description="First retry delay (seconds).")
    retry_max: float = Field(300.0, gt=0, description="Longest retry delay (seconds).")
    notify_queue_size: int = Field(
        10_000, ge=1, description="Pending notifications; beyond it they are dead-lettered."
    )
    notify_workers: int = Field(2, ge=1, le=16, description="Concurrent deliveries.")
    # Operational alerts
    silent_sources: list[SilentSourceRule] = Field(
        default_factory=lambda: [SilentSourceRule.model_validate({"field": "organization.id"})],
        description="Silent-source checks.",
    )
    silent_check_interval: float = Field(60.0, gt=0, description="Seconds between checks.")
    sla_check_interval: float = Field(60.0, gt=0, description="Seconds between SLA checks.")
    marker_retention_days: float = Field(
        35.0,
        gt=0,
        description="Days event markers (replay protection) and suppression records are kept.",
    )

    @field_validator("sla", "risk_scores")
    @classmethod
    def _levels(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        bad = [k for k in v if k not in LEVELS]
        if bad:
            raise ValueError(f"unknown severity {bad}; use {list(LEVELS)}")
        # a partial map overrides those levels only: every level always has a value, the
        # same for every kind of alert (detections, silent sources)
        defaults = _default_sla() if info.field_name == "sla" else _default_risk_scores()
        return {**defaults, **v}

    def sla_seconds(self, severity: str) -> float:
        """Seconds an alert of this severity may stay open."""
        return self.sla.get(severity, self.sla["medium"])

    def risk_score(self, severity: str) -> float:
        return self.risk_scores.get(severity, self.risk_scores["medium"])

    @model_validator(mode="after")
    def _routes_use_known_channels(self) -> AlertingSettings:
        seen: set[str] = set()
        for r in self.routes:
            if r.name in seen:
                raise ValueError(f"route name {r.name!r} is used twice")
            seen.add(r.name)
            missing = [c for c in r.channels if c not in self.channels]
            if missing:
                raise ValueError(f"route {r.name!r} uses unknown channels {missing}")
        return self
