"""DHCP (RFC 2131/2132): the router a server hands out, so the ARP tracker knows the gateway
when ``network.gateway_ips`` is not set. Only what that needs is parsed."""

from __future__ import annotations

import socket

PORTS = (67, 68)
COOKIE = b"\x63\x82\x53\x63"
OFFER, ACK = 2, 5


def offered_router(payload: bytes) -> str | None:
    """The first router (option 3) of a server's DHCPOFFER or DHCPACK, or None (another
    message, no router, or not DHCP)."""
    if len(payload) < 240 or payload[0] != 2 or payload[236:240] != COOKIE:
        return None  # not a BOOTREPLY with the DHCP magic cookie
    msg_type = 0
    router = None
    i, n = 240, len(payload)
    while i < n:
        code = payload[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 2 > n:
            break
        length = payload[i + 1]
        value = payload[i + 2 : i + 2 + length]
        if len(value) < length:
            break
        if code == 53 and length == 1:
            msg_type = value[0]
        elif code == 3 and length >= 4:
            router = socket.inet_ntoa(value[:4])
        i += 2 + length
    return router if msg_type in (OFFER, ACK) else None
