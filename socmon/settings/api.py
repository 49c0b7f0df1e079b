"""Settings section for this layer.

API (issue 7): HTTP service, authentication, limits.
"""

from __future__ import annotations

from socmon.settings.base import Section


class ApiSettings(Section):
    """API (issue 7): HTTP service, authentication, limits."""
