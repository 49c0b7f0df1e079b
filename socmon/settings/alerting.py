"""Settings section for this layer.

Alerting (issue 6): grouping, exceptions, notifications.
"""

from __future__ import annotations

from socmon.settings.base import Section


class AlertingSettings(Section):
    """Alerting (issue 6): grouping, exceptions, notifications."""
