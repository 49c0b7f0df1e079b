"""SSH: the outcome of each authentication attempt inferred from the session's shape.

SSH is encrypted after the key exchange, so the outcome is read from the sizes of the
server's encrypted segments, with the heuristic of Zeek's SSH analyser
(``src/analyzer/protocol/ssh/SSH.cc``, ``ProcessEncrypted``), for SSH 2 only:

1. once both sides sent NEWKEYS, server segments are ignored until the client sent an
   encrypted one;
2. the server's first encrypted segment is SERVICE_ACCEPT ("ssh-userauth", 17 bytes of
   payload): its size is the reference;
3. a server segment 16 bytes smaller than the reference is USERAUTH_SUCCESS (1 byte of
   payload): the login succeeded;
4. otherwise the next server segment is taken as USERAUTH_FAILURE (a segment more than 256
   bytes larger is skipped once: a pre-authentication banner), the answer to the client's
   "none" probe; it is not counted as an attempt;
5. every later server segment of exactly that size is one more failed attempt.

Like Zeek, nothing is inferred when compression (zlib) is negotiated, for SSH 1, or when the
key exchange could not be followed. Zeek sees reassembled streams; here a server segment whose
bytes equal the previous one is a retransmission and is skipped (two encrypted messages never
have the same ciphertext: the sequence number is in the MAC and, for CTR/AEAD, the keystream).
"""

from __future__ import annotations

import struct
from typing import Any

from socmon.collectors.network.apps import MAX_EVENTS_PER_FLOW, Emit, Inspector

MSG_KEXINIT = 20
MSG_NEWKEYS = 21
MAX_BUFFER = 65_536  # cleartext bytes buffered per direction before NEWKEYS
MAX_PACKET = 35_000  # RFC 4253 6.1: implementations must handle 35000-byte packets
BANNER_SKIP = 256  # Zeek: a first "failure" this much larger than SERVICE_ACCEPT is a banner
COMPRESSION = {"zlib", "zlib@openssh.com"}
HOW = "server packet sizes after the key exchange (Zeek's SSH analyser heuristic)"


def name_lists(payload: bytes, count: int) -> list[list[str]]:
    """The first ``count`` name-lists of a KEXINIT payload (after type and cookie)."""
    out: list[list[str]] = []
    p = 17
    for _ in range(count):
        (n,) = struct.unpack_from("!I", payload, p)
        p += 4
        if p + n > len(payload):
            raise ValueError("name-list past the end of KEXINIT")
        out.append(payload[p : p + n].decode("ascii", "replace").split(",") if n else [])
        p += n
    return out


def negotiated(client: list[str], server: list[str]) -> str | None:
    """RFC 4253 7.1: the first algorithm of the client's list the server supports."""
    return next((a for a in client if a in server), None)


class _Side:
    """One direction before encryption: the identification line, then binary packets."""

    __slots__ = ("buf", "encrypted", "kexinit", "version")

    def __init__(self) -> None:
        self.buf = b""
        self.version = ""
        self.encrypted = False
        self.kexinit: list[list[str]] | None = None


class SshInspector(Inspector):
    """Follows one SSH connection and emits an ``ssh`` event (``fields``: ``outcome``,
    ``attempt``, sizes) for each authentication outcome it can infer."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.sides = (_Side(), _Side())  # client, server
        self.saw_client_encrypted = False
        self.service_accept = 0
        self.failure_size = 0
        self.skipped_banner = False
        self.attempts = 0  # outcomes inferred (failures counted, then the success)
        self.unusable = ""  # why nothing can be inferred (compression, SSH 1, ...)
        self.last_server = b""  # the last encrypted server segment (retransmissions)

    def feed(self, is_orig: bool, payload: bytes, ts: float, pkt_no: int) -> None:
        side = self.sides[0 if is_orig else 1]
        if side.encrypted:
            self._encrypted(is_orig, payload, ts, pkt_no)
            return
        side.buf += payload
        rest = self._cleartext(side)
        if self.unusable:
            self.done = True
        elif rest:
            self._encrypted(is_orig, payload[-rest:], ts, pkt_no)

    def _cleartext(self, side: _Side) -> int:
        """Consume what can be parsed; return how many bytes after NEWKEYS (encrypted ones)
        this segment held."""
        buf = side.buf
        if not side.version:
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    if len(buf) > MAX_BUFFER:
                        self.unusable = "no SSH identification line"
                    side.buf = buf
                    return 0
                line, buf = buf[:nl], buf[nl + 1 :]
                if line.startswith(b"SSH-"):  # servers may send other lines first
                    side.version = line.rstrip(b"\r").decode("ascii", "replace")[:255]
                    if not self._ssh2(side.version):
                        self.unusable = "not SSH 2"
                        return 0
                    break
        while len(buf) >= 6:
            (length,) = struct.unpack_from("!I", buf)
            if length > MAX_PACKET or length < 2:
                self.unusable = "key exchange not followed"
                return 0
            if len(buf) < 4 + length:
                break
            msg_type = buf[5]
            if msg_type == MSG_KEXINIT:
                try:
                    side.kexinit = name_lists(buf[5 : 4 + length], 10)
                except (ValueError, struct.error):
                    self.unusable = "malformed KEXINIT"
                    return 0
                self._check_compression()
            buf = buf[4 + length :]
            if msg_type == MSG_NEWKEYS:
                side.encrypted = True
                side.buf = b""
                return len(buf)
        if len(buf) > MAX_BUFFER:
            self.unusable = "key exchange not followed"
        side.buf = buf
        return 0

    @staticmethod
    def _ssh2(version: str) -> bool:
        return version.startswith(("SSH-2.0", "SSH-1.99"))

    def _check_compression(self) -> None:
        client, server = self.sides[0].kexinit, self.sides[1].kexinit
        if client is None or server is None:
            return
        for i in (6, 7):  # compression client->server, server->client
            alg = negotiated(client[i], server[i])
            if alg in COMPRESSION:
                self.unusable = f"compression {alg}"

    def _encrypted(self, is_orig: bool, data: bytes, ts: float, pkt_no: int) -> None:
        if is_orig:
            self.saw_client_encrypted = True
            return
        if not self.saw_client_encrypted or data == self.last_server:
            return  # (the same ciphertext again is a TCP retransmission, not a new message)
        self.last_server = data
        size = len(data)
        if not self.service_accept:
            self.service_accept = size
            return
        if size + 16 == self.service_accept:
            self._outcome("success", size, ts, pkt_no)
            self.done = True
            return
        if not self.failure_size:
            if not self.skipped_banner and size - self.service_accept > BANNER_SKIP:
                self.skipped_banner = True
                return
            self.failure_size = size
            return
        if size == self.failure_size:
            self._outcome("failure", size, ts, pkt_no)

    def _outcome(self, outcome: str, size: int, ts: float, pkt_no: int) -> None:
        self.attempts += 1
        if self.attempts > MAX_EVENTS_PER_FLOW:
            return
        fields: dict[str, Any] = {
            "outcome": outcome,
            "attempt": self.attempts,
            "server_packet_bytes": size,
            "service_accept_bytes": self.service_accept,
            "failure_bytes": self.failure_size or None,
            "client": self.sides[0].version,
            "server": self.sides[1].version,
        }
        self.emit("ssh", ts, pkt_no, True, fields)
