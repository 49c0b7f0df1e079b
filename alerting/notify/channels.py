"""Delivery channels: each sends one rendered message or raises ``DeliveryError``.

- email: SMTP with STARTTLS (or implicit TLS) and AUTH;
- webhook: JSON POST with ``X-Socmon-Signature: sha256=<hex HMAC-SHA256 of the raw body>``,
  ``X-Socmon-Delivery: <delivery id>`` (the same on every retry, for receivers to dedupe);
- slack: Slack / Mattermost incoming webhook (``{"text": ...}``);
- telegram: Bot API ``sendMessage`` (base URL is a setting).
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx
import orjson

from socmon.alerting.notify.templates import Message
from socmon.settings.alerting import (
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
)

ChannelConfig = EmailChannel | WebhookChannel | SlackChannel | TelegramChannel

SIGNATURE_HEADER = "X-Socmon-Signature"
DELIVERY_HEADER = "X-Socmon-Delivery"


class DeliveryError(Exception):
    """The channel did not accept the message (retryable unless ``permanent``)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(cfg: ChannelConfig, msg: Message, delivery_id: str) -> None:
    if isinstance(cfg, EmailChannel):
        _email(cfg, msg, delivery_id)
    elif isinstance(cfg, WebhookChannel):
        body = orjson.dumps({**msg.payload, "delivery_id": delivery_id}, default=str)
        headers = {"content-type": "application/json", DELIVERY_HEADER: delivery_id}
        headers.update(cfg.headers)
        if cfg.secret is not None:
            headers[SIGNATURE_HEADER] = sign(cfg.secret.get_secret_value(), body)
        _post(cfg.url, body, headers, cfg.timeout, cfg.verify_certs)
    elif isinstance(cfg, SlackChannel):
        doc: dict[str, Any] = {"text": f"*{msg.subject}*\n{msg.text}"}
        if cfg.username:
            doc["username"] = cfg.username
        _post(
            cfg.url,
            orjson.dumps(doc),
            {"content-type": "application/json", DELIVERY_HEADER: delivery_id},
            cfg.timeout,
            cfg.verify_certs,
        )
    elif isinstance(cfg, TelegramChannel):
        url = f"{cfg.api_base.rstrip('/')}/bot{cfg.bot_token.get_secret_value()}/sendMessage"
        body = orjson.dumps(
            {
                "chat_id": cfg.chat_id,
                "text": f"{msg.subject}\n\n{msg.text}"[:4096],
                "disable_web_page_preview": True,
            }
        )
        resp = _post(url, body, {"content-type": "application/json"}, cfg.timeout, cfg.verify_certs)
        try:
            ok = resp.json().get("ok")
        except ValueError:
            ok = False
        if not ok:
            raise DeliveryError(f"telegram answered without ok: {resp.text[:200]}")
    else:  # pragma: no cover - settings validation prevents it
        raise DeliveryError(f"unknown channel type {type(cfg).__name__}", permanent=True)


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, verify: bool
) -> httpx.Response:
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=timeout, verify=verify)
    except httpx.HTTPError as e:
        raise DeliveryError(f"{type(e).__name__}: {e}") from None
    if resp.status_code >= 300:
        # 4xx other than 408/429 will not get better by retrying, but a receiver being
        # (re)deployed often answers 404 for a while: retry everything, bounded by attempts.
        raise DeliveryError(f"HTTP {resp.status_code}: {resp.text[:200]}")
    return resp


def _email(cfg: EmailChannel, msg: Message, delivery_id: str) -> None:
    send_email(cfg, msg.subject, msg.text, delivery_id)


def send_email(
    cfg: EmailChannel,
    subject: str,
    text: str,
    delivery_id: str,
    recipients: list[str] | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
) -> None:
    """Send one email through the channel (to ``recipients`` instead of the channel's when
    given), with ``(filename, mime type, content)`` attachments; DeliveryError on failure."""
    em = EmailMessage()
    em["Subject"] = subject
    em["From"] = cfg.sender
    em["To"] = ", ".join(recipients or cfg.recipients)
    em["Date"] = formatdate(localtime=False)
    em["Message-ID"] = make_msgid(idstring=delivery_id.replace("_", "").replace("-", ""))
    em[DELIVERY_HEADER] = delivery_id
    em.set_content(text)
    for filename, mime, content in attachments:
        maintype, _, subtype = mime.partition("/")
        em.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    ctx = ssl.create_default_context(cafile=str(cfg.ca_certs) if cfg.ca_certs else None)
    if not cfg.verify_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        smtp: smtplib.SMTP
        if cfg.ssl:
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        with smtp:
            smtp.ehlo()
            if cfg.starttls and not cfg.ssl:
                smtp.starttls(context=ctx)
                smtp.ehlo()
            if cfg.username:
                pw = cfg.password.get_secret_value() if cfg.password else ""
                smtp.login(cfg.username, pw)
            smtp.send_message(em)
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(f"SMTP authentication failed: {e}") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as e:
        raise DeliveryError(f"SMTP: {type(e).__name__}: {e}") from None
