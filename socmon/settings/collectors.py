"""Settings section for this layer.

Log collectors (issue 3): files, syslog, EVTX, JSON lines, IDS output; organisation units.
"""

from __future__ import annotations

from socmon.settings.base import Section


class CollectorSettings(Section):
    """Log collectors (issue 3): files, syslog, EVTX, JSON lines, IDS output; organisation units."""
