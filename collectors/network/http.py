"""Clear-text HTTP/1.x request and response heads, FTP/POP3 commands (credentials)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
    b"PROPFIND ",
    b"QUERY ",
)
MAX_HEAD = 16384


def looks_like_request(payload: bytes) -> bool:
    return payload.startswith(METHODS)


def looks_like_response(payload: bytes) -> bool:
    return payload.startswith((b"HTTP/1.", b"HTTP/0.9", b"HTTP/2"))


def _head(buf: bytes) -> tuple[list[str], dict[str, str]] | None:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        end = buf.find(b"\n\n")
        if end < 0:
            return None
    lines = buf[:end].decode("latin-1").replace("\r\n", "\n").split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())
    return lines[0].split(" ", 2), headers


def _head_or_partial(buf: bytes, complete: bool) -> tuple[list[str], dict[str, str]] | None:
    """The parsed head; None while it is incomplete, unless ``complete`` (the stream ended):
    then its first line as far as it was seen, without headers."""
    parsed = _head(buf)
    if parsed is None and complete:
        first = buf.split(b"\n", 1)[0].decode("latin-1").strip()
        parsed = (first.split(" ", 2), {})
    return parsed


def parse_request(buf: bytes, complete: bool) -> dict[str, Any] | None:
    """ECS fields of a request head; None while the head is incomplete (unless ``complete``:
    then whatever was seen of it)."""
    parsed = _head_or_partial(buf, complete)
    if parsed is None:
        return None
    parts, headers = parsed
    method = parts[0] if parts else ""
    uri = parts[1] if len(parts) > 1 else ""
    out: dict[str, Any] = {"http": {"request": {"method": method}}, "url": {"original": uri}}
    if len(parts) > 2 and parts[2].startswith("HTTP/"):
        out["http"]["version"] = parts[2][5:].strip()
    path, _, query = uri.partition("?")
    if path:
        out["url"]["path"] = path
    if query:
        out["url"]["query"] = query
    host = headers.get("host")
    if host:
        out["url"]["domain"] = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    ua = headers.get("user-agent")
    if ua:
        out["user_agent"] = {"original": ua}
    cl = headers.get("content-length")
    if cl and cl.isdigit():
        out["http"]["request"]["body"] = {"bytes": int(cl)}
    ref = headers.get("referer")
    if ref:
        out["http"]["request"]["referrer"] = ref
    auth = headers.get("authorization")
    if auth:
        scheme, _, cred = auth.partition(" ")
        out["_auth_scheme"] = scheme.lower()
        if scheme.lower() == "basic":
            try:
                user = base64.b64decode(cred.strip(), validate=False).decode("utf-8", "replace")
                out["_basic_user"] = user.split(":", 1)[0]
            except (binascii.Error, ValueError):
                out["_basic_user"] = ""
    return out


def parse_response(buf: bytes, complete: bool) -> dict[str, Any] | None:
    parsed = _head_or_partial(buf, complete)
    if parsed is None:
        return None
    parts, headers = parsed
    resp: dict[str, Any] = {}
    if len(parts) > 1 and parts[1].isdigit():
        resp["status_code"] = int(parts[1])
    cl = headers.get("content-length")
    if cl and cl.isdigit():
        resp["body"] = {"bytes": int(cl)}
    ct = headers.get("content-type")
    if ct:
        resp["mime_type"] = ct.split(";", 1)[0].strip()
    return {"response": resp, "version": parts[0][5:] if parts and parts[0][:5] == "HTTP/" else ""}


def command_lines(buf: bytes) -> tuple[list[str], bytes]:
    """Complete CRLF lines of a command stream and the unfinished rest."""
    *lines, rest = buf.split(b"\n")
    return [x.rstrip(b"\r").decode("utf-8", "replace") for x in lines], rest
