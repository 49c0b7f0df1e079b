"""Settings of period reports: the PDF printer and the scheduled deliveries by email."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from socmon.settings.base import Section


class ReportSchedule(Section):
    """One scheduled report: a unit's (or the province's, for the Standing Committee) report
    of the last full week or month, sent as a PDF attachment through an email channel."""

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Schedule id.")
    period: Literal["weekly", "monthly"] = Field(..., description="Last full week or month.")
    units: list[str] = Field(
        default_factory=list, description="Units reported on (empty: the whole province)."
    )
    channel: str = Field(..., description="An email channel of alerting.channels.")
    recipients: list[str] = Field(
        ..., min_length=1, description="To addresses (replace the channel's recipients)."
    )
    language: Literal["vi", "en"] = Field("vi", description="Language of the report.")


class ReportSettings(Section):
    chromium: Path = Field(
        Path("/usr/bin/chromium"),
        description="Chromium binary that prints reports to PDF (Debian package chromium).",
    )
    pdf_timeout: float = Field(90.0, gt=0, description="Seconds allowed to print one PDF.")
    schedules: list[ReportSchedule] = Field(
        default_factory=list, description="Scheduled report deliveries."
    )
    check_interval: float = Field(
        300.0, gt=0, description="Seconds between checks for a report that is due."
    )
