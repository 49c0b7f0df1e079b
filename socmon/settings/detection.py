"""Settings section for this layer.

Sigma detection (issue 5): rule sources, streaming and scheduled modes.
"""

from __future__ import annotations

from socmon.settings.base import Section


class DetectionSettings(Section):
    """Sigma detection (issue 5): rule sources, streaming and scheduled modes."""
