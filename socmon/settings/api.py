"""Settings section for this layer.

API (issue 7): HTTP service, authentication, limits.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from socmon.settings.base import Section


class ApiSettings(Section):
    """API (issue 7): HTTP service, authentication, limits."""

    enabled: bool = Field(True, description="Serve the API inside `socmon run`.")
    bind: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port the API listens on.")
    workers_threads: int = Field(
        40, ge=1, le=512, description="Threads serving blocking Elasticsearch calls."
    )
    max_body_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest request body accepted (413 above)."
    )
    max_page_size: int = Field(500, ge=1, le=10_000, description="Largest page size (422 above).")
    default_page_size: int = Field(50, ge=1, le=10_000, description="Page size when not given.")
    query_timeout: float = Field(
        10.0, gt=0, le=300, description="Seconds an Elasticsearch search may run (504 above)."
    )
    max_time_range_days: int = Field(
        366, ge=1, description="Longest time range of an event search, stats or report."
    )
    cursor_keep_alive: str = Field(
        "2m",
        pattern=r"^[0-9]+[smh]$",
        description="How long a pagination cursor (point in time) stays usable between pages.",
    )
    pit_max_age: float = Field(
        1.0,
        ge=0,
        description="Seconds first pages may share one point in time (0: one per request).",
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests per minute per key or token (0: unlimited)."
    )
    rate_limit_burst: int = Field(120, ge=1, description="Requests a key may send in a burst.")
    key_cache_seconds: float = Field(
        5.0, ge=0, description="Seconds a verified API key is cached (revocation delay)."
    )
    key_cache_size: int = Field(
        10_000, ge=1, description="Keys kept in the cache (least recently used evicted first)."
    )
    negative_cache_seconds: float = Field(
        2.0, ge=0, description="Seconds an unknown or revoked key is remembered as such."
    )
    auth_failures_per_minute: int = Field(
        30,
        ge=0,
        description="Failed authentications allowed per client address and minute, then 429 "
        "without a lookup (0: unlimited).",
    )
    auth_failures_burst: int = Field(
        20, ge=1, description="Failed authentications a client address may make at once."
    )
    cursor_secret: SecretStr | None = Field(
        None,
        description="Key signing pagination cursors (HMAC-SHA256). Unset: a random key per "
        "process (cursors work only on the process that made them).",
    )
    cursor_secret_previous: SecretStr | None = Field(
        None,
        description="The previous cursor key, still accepted: set it to the old "
        "cursor_secret when rotating.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a request's headers (then 408 and closed; "
        "after a response: keep_alive_timeout plus this).",
    )
    body_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a whole request body (then closed).",
    )
    keep_alive_timeout: int = Field(
        5, ge=1, le=300, description="Seconds an idle keep-alive connection stays open."
    )
    max_connections: int = Field(
        1000, ge=1, description="Concurrent connections the server accepts (503 above)."
    )
    max_connections_per_address: int = Field(
        50, ge=1, description="Concurrent connections one client address may hold."
    )
    tls_cert_file: Path | None = Field(
        None, description="TLS certificate chain (PEM): the API serves HTTPS when set."
    )
    tls_key_file: Path | None = Field(None, description="TLS private key (PEM).")
    hsts_max_age: int = Field(
        31_536_000,
        ge=0,
        description="Strict-Transport-Security max-age sent over TLS (0: no header).",
    )
    oidc_issuer: str | None = Field(None, description="OIDC issuer (iss) of accepted JWTs.")
    oidc_jwks_url: str | None = Field(None, description="JWKS URL of the issuer's signing keys.")
    oidc_audience: str | None = Field(
        None, description="Audience (aud) JWTs must carry; required when oidc_issuer is set."
    )
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"], description="Accepted JWT algorithms."
    )
    oidc_role_claim: str = Field("socmon_role", description="JWT claim holding the role.")
    oidc_units_claim: str = Field(
        "socmon_units",
        description="JWT claim holding the organisation units: a list of unit ids, or ['*'] "
        "(or '*') for the province; absent, empty or malformed: no access.",
    )
    oidc_client_id: str | None = Field(
        None,
        description="Console sign-in with the issuer (authorization code + PKCE): this "
        "application's client id at the provider (the ID token's aud). Unset: no OIDC sign-in.",
    )
    oidc_client_secret: SecretStr | None = Field(
        None,
        description="Client secret of a confidential client, sent as the provider's discovery "
        "document allows (client_secret_basic, else client_secret_post); unset: a public "
        "client (PKCE only).",
    )
    oidc_redirect_base: str | None = Field(
        None,
        description="Base URL the provider sends browsers back to (+ /login/oidc/callback); "
        "unset: alerting.base_url when configured, else the request's own URL.",
    )
    oidc_scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description="Scopes asked for at console sign-in ('openid' is always sent).",
    )
    oidc_username_claim: str = Field(
        "preferred_username",
        description="ID token claim naming the console user (recorded as 'oidc:<name>').",
    )
    oidc_provider_name: str = Field(
        "SSO", max_length=64, description="Provider name on the sign-in button."
    )
    oidc_login_timeout_seconds: int = Field(
        600, ge=30, le=3600, description="Seconds a console sign-in at the provider may take."
    )
    oidc_logout_at_provider: bool = Field(
        True,
        description="Signing out of the console also ends the session at the provider "
        "(OpenID Connect RP-Initiated Logout, when its discovery document names an "
        "end_session_endpoint), which then sends the browser back to /login: register "
        "<base>/login as a post-logout redirect URI there. Otherwise, on a shared office PC, "
        "the next person's 'Sign in with' would open the previous user's session.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token /metrics requires from addresses outside metrics_networks.",
    )
    metrics_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Addresses (CIDR) that may read /metrics without the token; ['0.0.0.0/0', "
        "'::/0']: open to all.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (empty: CORS off)."
    )
    report_language: Literal["vi", "en"] = Field("vi", description="Default report language.")
    engine_required: bool = Field(
        False,
        description="/readyz fails until the detection engine reports it has loaded rules.",
    )
    # ---- web console (issue 13)
    console_session_idle_seconds: int = Field(
        1800, ge=1, description="A console session ends after this many seconds without use."
    )
    console_session_max_hours: float = Field(
        12.0, gt=0, description="A console session ends this many hours after sign-in."
    )
    console_login_user_failures: int = Field(
        5, ge=1, description="Failed sign-ins per user name within the window before refusing."
    )
    console_login_address_failures: int = Field(
        20, ge=1, description="Failed sign-ins per client address within the window."
    )
    console_login_window_seconds: int = Field(
        900, ge=1, description="Window (seconds) over which failed sign-ins are counted."
    )
    console_poll_seconds: int = Field(
        30, ge=5, description="How often the alert queue asks for the count of new alerts."
    )
    console_assets_dir: Path | None = Field(
        None,
        description="Where `npm ci` put the console's third-party assets "
        "(default: node_modules/ of the checkout).",
    )

    @model_validator(mode="after")
    def _checked(self) -> ApiSettings:
        # Console sign-in alone (oidc_client_id) needs neither audience nor JWKS URL: the API
        # then takes no bearer JWTs, and the console reads the keys' URL from discovery.
        if self.oidc_issuer and not self.oidc_client_id and not self.oidc_audience:
            raise ValueError(
                "oidc_issuer is set without oidc_audience: tokens issued for any other "
                "application would be accepted"
            )
        if self.oidc_issuer and self.oidc_audience and not self.oidc_jwks_url:
            raise ValueError("oidc_issuer is set without oidc_jwks_url")
        if self.oidc_client_id and not self.oidc_issuer:
            raise ValueError("oidc_client_id is set without oidc_issuer")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS needs both tls_cert_file and tls_key_file")
        for net in self.metrics_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"metrics_networks: '{net}' is not an address or CIDR") from None
        return self
