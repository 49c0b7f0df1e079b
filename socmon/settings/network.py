"""Settings section for this layer.

Network collector (issue 4): live capture and pcap files.
"""

from __future__ import annotations

from socmon.settings.base import Section


class NetworkSettings(Section):
    """Network collector (issue 4): live capture and pcap files."""
