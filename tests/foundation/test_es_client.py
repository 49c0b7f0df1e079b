"""Connecting to an existing cluster: API key or basic auth, CA bundle for TLS; nothing is
provisioned when a URL is configured."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

import pytest

from socmon.es import client_kwargs, make_client
from socmon.settings import load_settings


def test_api_key_wins_and_tls_uses_the_ca_bundle(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = load_settings(
        es={
            "url": "https://es1.example:9200,https://es2.example:9200",
            "api_key": "aWQ6a2V5",
            "username": "ignored",
            "ca_certs": str(ca),
        }
    )
    assert not s.es.provisioned
    kw = client_kwargs(s.es)
    assert kw["hosts"] == ["https://es1.example:9200", "https://es2.example:9200"]
    assert kw["api_key"] == "aWQ6a2V5" and "basic_auth" not in kw
    assert kw["ca_certs"] == str(ca) and kw["verify_certs"] is True


def test_basic_auth_and_plain_http() -> None:
    s = load_settings(es={"url": "http://10.0.0.5:9200", "username": "socmon", "password": "pw"})
    kw = client_kwargs(s.es)
    assert kw["basic_auth"] == ("socmon", "pw")
    assert "ca_certs" not in kw and "verify_certs" not in kw
    # the bulk writer owns retries: the client itself must not retry behind its back
    assert kw["max_retries"] == 0


def test_secrets_are_masked_in_settings_output() -> None:
    s = load_settings(es={"url": "http://x:9200", "password": "s3cret", "api_key": "k3y"})
    dumped = s.model_dump_json()
    assert "s3cret" not in dumped and "k3y" not in dumped


def test_client_is_built_without_contacting_the_cluster() -> None:
    """A listener counts connections: none while the client is built, one at its first
    request (so the listener would have seen an early contact)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.5)
    try:
        url = f"http://127.0.0.1:{srv.getsockname()[1]}"
        client = make_client(load_settings(es={"url": url}).es)
        with pytest.raises(TimeoutError):
            srv.accept()  # nothing connected while building

        def first_request() -> None:
            with contextlib.suppress(Exception):  # the listener never answers
                client.options(request_timeout=1).info()

        t = threading.Thread(target=first_request)
        t.start()
        srv.settimeout(5)
        conn, _ = srv.accept()  # the client's first request reaches the configured node
        conn.close()
        t.join(10)
    finally:
        srv.close()
