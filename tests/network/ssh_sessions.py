"""SSH sessions crafted with scapy: real identification lines, KEXINIT and NEWKEYS packets,
then "encrypted" segments of the sizes an SSH 2 server sends for SERVICE_ACCEPT,
USERAUTH_FAILURE and USERAUTH_SUCCESS (the payload bytes are random: only sizes matter)."""

from __future__ import annotations

import os
import struct

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

# Sizes of one cipher suite (aes128-ctr + hmac-sha2-256: 16-byte blocks, 32-byte MAC):
# SERVICE_ACCEPT (17 bytes of payload) -> 32 + 32; USERAUTH_SUCCESS (1 byte) -> 16 + 32
# (16 fewer, RFC 4253 6: padding to the block size); USERAUTH_FAILURE with
# "publickey,password" (24 bytes) -> 32 + 32 as well, so a server with that list would be
# ambiguous; this server offers "publickey,password,keyboard-interactive" (45 -> 48 + 32).
SERVICE_ACCEPT = 64
SUCCESS = 48
FAILURE = 80
CLIENT_SERVICE_REQUEST = 64
CLIENT_NONE = 80
CLIENT_PASSWORD = 112


def binary_packet(payload: bytes) -> bytes:
    pad = 8 - (5 + len(payload)) % 8
    if pad < 4:
        pad += 8
    return struct.pack("!IB", 1 + len(payload) + pad, pad) + payload + b"\0" * pad


def kexinit(compression: str = "none") -> bytes:
    lists = [
        "curve25519-sha256",
        "ssh-ed25519",
        "aes128-ctr",
        "aes128-ctr",
        "hmac-sha2-256",
        "hmac-sha2-256",
        compression,
        compression,
        "",
        "",
    ]
    body = bytes([20]) + b"\x11" * 16
    for name in lists:
        body += struct.pack("!I", len(name)) + name.encode()
    return binary_packet(body + b"\0" + b"\0\0\0\0")


NEWKEYS = binary_packet(bytes([21]))


class Session:
    """Packets of one TCP connection, with increasing timestamps."""

    def __init__(self, cli: str, srv: str, sport: int, t0: float, dport: int = 22) -> None:
        self.cli, self.srv, self.sport, self.dport = cli, srv, sport, dport
        self.t = t0
        self.pkts: list[Ether] = []

    def send(self, from_client: bool, flags: str, payload: bytes = b"") -> None:
        if from_client:
            ip = IP(src=self.cli, dst=self.srv)
            tcp = TCP(sport=self.sport, dport=self.dport, flags=flags)
        else:
            ip = IP(src=self.srv, dst=self.cli)
            tcp = TCP(sport=self.dport, dport=self.sport, flags=flags)
        p = Ether() / ip / tcp
        if payload:
            p = p / Raw(payload)
        p.time = self.t
        p._ts_set = True  # tests.network.helpers.write_pcap keeps it
        self.pkts.append(p)
        self.t += 0.01


def ssh_session(
    cli: str,
    srv: str,
    sport: int,
    t0: float,
    outcomes: list[str],
    compression: str = "none",
    dport: int = 22,
    retransmit: bool = False,
) -> list[Ether]:
    """A client that sends "none" first (as OpenSSH does), then one password per outcome
    ("failure"/"success"); the session ends after a success or the last failure.
    ``retransmit``: the server's answer to each password is sent twice."""
    s = Session(cli, srv, sport, t0, dport)
    s.send(True, "S")
    s.send(False, "SA")
    s.send(True, "A")
    s.send(False, "PA", b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    s.send(True, "PA", b"SSH-2.0-OpenSSH_9.6\r\n")
    s.send(True, "PA", kexinit(compression))
    s.send(False, "PA", kexinit(compression))
    s.send(True, "PA", binary_packet(bytes([30]) + os.urandom(36)))  # KEX_ECDH_INIT
    s.send(False, "PA", binary_packet(bytes([31]) + os.urandom(200)) + NEWKEYS)
    s.send(True, "PA", NEWKEYS)
    s.send(True, "PA", os.urandom(CLIENT_SERVICE_REQUEST))
    s.send(False, "PA", os.urandom(SERVICE_ACCEPT))
    s.send(True, "PA", os.urandom(CLIENT_NONE))
    s.send(False, "PA", os.urandom(FAILURE))
    for outcome in outcomes:
        s.send(True, "PA", os.urandom(CLIENT_PASSWORD))
        s.t += 1.0  # the server's delay after a password
        s.send(False, "PA", os.urandom(SUCCESS if outcome == "success" else FAILURE))
        if retransmit:  # the same segment again (a lost ACK)
            s.send(False, "PA", bytes(s.pkts[-1][Raw].load))
        if outcome == "success":
            s.send(True, "PA", os.urandom(128))  # channel open ...
            s.send(False, "PA", os.urandom(96))
            s.send(False, "PA", os.urandom(SUCCESS))  # later packets do not count
            break
    s.send(True, "FA")
    s.send(False, "FA")
    s.send(True, "A")
    return s.pkts
