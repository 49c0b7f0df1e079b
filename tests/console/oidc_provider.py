"""A real OpenID provider for the console's OIDC tests: oidc-provider-mock (Flask + authlib:
discovery, authorization form, token endpoint, JWKS, RS256 ID tokens with the user's claims)
served by werkzeug on 127.0.0.1 and a port the system chose, in a thread.

The mock issues codes whatever the PKCE parameters (it registers no code-challenge
extension, and so takes no public clients: ``allow_public_clients`` lets its code grant
authenticate a client by ``none``, as authlib's code-challenge extension would), so
``_RequirePkce`` wraps it to refuse, as a provider that requires PKCE does
(Keycloak's "PKCE method S256"), a token request whose ``code_verifier`` does not hash to
the ``code_challenge`` of the code's authorization request (RFC 7636 section 4.6).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import werkzeug.serving

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


@dataclass
class MockProvider:
    issuer: str
    # advertised as token_endpoint_auth_methods_supported in discovery (None: not at all,
    # which means client_secret_basic, Discovery 1.0 section 3)
    auth_methods: list[str] | None = None
    # rewrites the ID token of the token endpoint's answers (a forger on the way)
    tamper: Callable[[str], str] | None = None
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def set_user(self, sub: str, **claims: object) -> None:
        """The claims the provider puts in ``sub``'s ID token from now on."""
        r = httpx.put(f"{self.issuer}/users/{sub}", json=claims)
        assert r.status_code == 204, r.text

    def authorize(self, url: str, sub: str) -> str:
        """Sign in as ``sub`` on the provider's form at ``url``; the redirect back."""
        r = httpx.post(url, data={"sub": sub}, follow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        return r.headers["location"]

    def deny(self, url: str) -> str:
        r = httpx.post(url, data={"action": "deny"}, follow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text[:300])
        return r.headers["location"]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _RequirePkce:
    def __init__(self, app: Callable[..., Iterable[bytes]], provider: MockProvider) -> None:
        self.app = app
        self.provider = provider
        self.challenges: dict[str, tuple[str, str]] = {}  # code -> (challenge, method)
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if path == "/oauth2/authorize" and method == "POST":
            query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
            self.provider.authorize_requests.append(query)
            challenge = (query.get("code_challenge", ""), query.get("code_challenge_method", ""))

            def remember(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                for k, v in headers:
                    if k.lower() == "location":
                        code = parse_qs(urlsplit(v).query).get("code")
                        if code:
                            with self._lock:
                                self.challenges[code[0]] = challenge
                return start_response(status, headers, *rest)

            return self.app(environ, remember)
        if path == "/.well-known/openid-configuration" and self.provider.auth_methods:
            doc = json.loads(b"".join(self.app(environ, lambda *a: None)))
            doc["token_endpoint_auth_methods_supported"] = self.provider.auth_methods
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(doc).encode()]
        if path == "/oauth2/token" and method == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size)
            environ["wsgi.input"] = io.BytesIO(body)
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            self.provider.token_requests.append(
                {**form, "authorization": environ.get("HTTP_AUTHORIZATION", "")}
            )
            with self._lock:
                challenge, how = self.challenges.pop(form.get("code", ""), ("", ""))
            verifier = form.get("code_verifier", "")
            if form.get("grant_type") == "authorization_code" and (
                how != "S256" or not verifier or s256(verifier) != challenge
            ):
                start_response("400 BAD REQUEST", [("Content-Type", "application/json")])
                return [
                    json.dumps({"error": "invalid_grant", "error_description": "PKCE"}).encode()
                ]
            if self.provider.tamper is not None:
                return self._tampered(environ, start_response, self.provider.tamper)
        return self.app(environ, start_response)

    def _tampered(
        self, environ: Environ, start_response: StartResponse, tamper: Callable[[str], str]
    ) -> Iterable[bytes]:
        got: list[Any] = []
        body = b"".join(self.app(environ, lambda status, headers, *a: got.append(status)))
        doc = json.loads(body)
        if "id_token" in doc:
            doc["id_token"] = tamper(doc["id_token"])
        start_response(got[0], [("Content-Type", "application/json")])
        return [json.dumps(doc).encode()]


def allow_public_clients(monkeypatch: Any) -> None:
    from oidc_provider_mock import _app

    methods = [*_app.AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS, "none"]
    monkeypatch.setattr(_app.AuthorizationCodeGrant, "TOKEN_ENDPOINT_AUTH_METHODS", methods)


@contextmanager
def running(token_max_age: timedelta = timedelta(hours=1)) -> Iterator[MockProvider]:
    """The provider, nonces required, up for the ``with`` block."""
    app = oidc_provider_mock.app(require_nonce=True, access_token_max_age=token_max_age)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    provider = MockProvider(issuer=f"http://127.0.0.1:{server.server_port}")
    server.app = _RequirePkce(app, provider)  # type: ignore[assignment]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
