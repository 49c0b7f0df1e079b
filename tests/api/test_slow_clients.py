"""The API as `socmon serve` runs it (uvicorn, real sockets): slow clients are timed out, one
address cannot hold more than its share of connections, TLS works with a real client, and
/docs renders offline in a real browser (issue 16 items 7 and 9)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from socmon.api.server import make_server
from socmon.settings import Settings

ATTACKER_ADDRESSES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
NORMAL_ADDRESS = "127.0.0.9"


@contextlib.contextmanager
def serving(settings: Settings, es_client) -> Iterator[int]:
    """uvicorn on a free port (port 0) in a thread; yields the port."""
    server = make_server(settings, es_client, port=0)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        t.join(timeout=10)


def _connect(address: str, port: int) -> socket.socket:
    s = socket.socket()
    s.bind((address, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def _closed(s: socket.socket) -> bool:
    """True when the server closed the connection (possibly after a 408/503)."""
    try:
        s.setblocking(False)
        data = s.recv(4096)
        return data == b"" or data.startswith((b"HTTP/1.1 408", b"HTTP/1.1 503"))
    except BlockingIOError:
        return False
    except OSError:
        return True


def _healthz(port: int) -> int:
    transport = httpx.HTTPTransport(local_address=NORMAL_ADDRESS)
    with httpx.Client(transport=transport, timeout=5) as c:
        return c.get(f"http://127.0.0.1:{port}/healthz").status_code


@pytest.fixture
def guarded(settings: Settings) -> Settings:
    s = settings.model_copy(deep=True)
    s.api.header_timeout = 1.0
    s.api.body_timeout = 2.0
    s.api.max_connections = 30
    s.api.max_connections_per_address = 10
    return s


def test_slowloris_does_not_deny_service(guarded, es_client):
    """40 connections from 4 addresses send headers a byte at a time (each byte used to
    reset uvicorn's only timer): more than max_connections, so without deadlines a normal
    client gets 503 for as long as the attack goes on."""
    with serving(guarded, es_client) as port:
        attackers = []
        for addr in ATTACKER_ADDRESSES:
            for _ in range(10):
                s = _connect(addr, port)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                attackers.append(s)
        stop = time.monotonic() + 4.0
        results = []
        while time.monotonic() < stop:
            for s in attackers:
                with contextlib.suppress(OSError):
                    s.sendall(b"X")  # one more header byte
            time.sleep(0.25)
            if time.monotonic() > stop - 2.0 and len(results) < 3:
                results.append(_healthz(port))
        assert results == [200, 200, 200], results
        assert all(_closed(s) for s in attackers)
        for s in attackers:
            s.close()


def test_slow_body_is_cut(guarded, es_client):
    with serving(guarded, es_client) as port:
        s = _connect("127.0.0.1", port)
        s.sendall(
            b"POST /api/v1/rules/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: 1000\r\n\r\n{"
        )
        t0 = time.monotonic()
        closed_at = None
        while time.monotonic() - t0 < 6:
            try:
                s.sendall(b" ")
            except OSError:
                closed_at = time.monotonic() - t0
                break
            if _closed(s):
                closed_at = time.monotonic() - t0
                break
            s.setblocking(True)
            time.sleep(0.2)
        s.close()
        assert closed_at is not None and 1.5 < closed_at < 4.0, closed_at


def test_connections_per_address_capped(guarded, es_client):
    with serving(guarded, es_client) as port:
        held = [_connect("127.0.0.1", port) for _ in range(10)]
        time.sleep(0.2)
        extra = _connect("127.0.0.1", port)
        extra.settimeout(3)
        assert extra.recv(200).startswith(b"HTTP/1.1 503")
        assert _healthz(port) == 200  # another address is served
        for s in [*held, extra]:
            s.close()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "api.crt", tmp / "api.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_with_hsts(settings, es_client, tmp_path):
    s = settings.model_copy(deep=True)
    s.api.tls_cert_file, s.api.tls_key_file = _self_signed(tmp_path)
    with serving(s, es_client) as port:
        ctx = ssl.create_default_context(cafile=str(s.api.tls_cert_file))
        with httpx.Client(verify=ctx, timeout=5) as c:
            r = c.get(f"https://localhost:{port}/healthz")
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
        assert r.headers["x-content-type-options"] == "nosniff"
        with pytest.raises(httpx.HTTPError), httpx.Client(timeout=3) as c:
            c.get(f"http://localhost:{port}/healthz")  # plain HTTP to the TLS port


def test_tls_needs_both_files(settings, tmp_path):
    from socmon.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="tls"):
        load_settings(api={"tls_cert_file": str(tmp_path / "c.pem")})


def test_docs_render_offline_in_chromium(settings, es_client):
    """/docs in a real headless Chromium with every host but the API unresolvable: Swagger UI
    renders the operations under the page's Content-Security-Policy (nothing from a CDN)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium not installed (deploy/test.sh installs it)")
    with serving(settings, es_client) as port:
        out = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=10000",
                "--dump-dom",
                f"http://127.0.0.1:{port}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    paths = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', out.stdout))
    assert {"/api/v1/alerts", "/api/v1/rules/validate", "/healthz"} <= paths, out.stderr[-2000:]
