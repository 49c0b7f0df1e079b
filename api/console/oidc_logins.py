"""Console OIDC sign-ins under way (``<prefix>-oidc-logins``): what the callback needs.

The ``state`` sent to the provider is random; the browser holds it in a short-lived
cookie and the index holds, under its SHA-256, the PKCE verifier, the nonce, the page to
return to and the expiry (``api.oidc_login_timeout_seconds``). ``consume`` deletes the
document before using it: of two callbacks with the same state only the one whose delete
succeeded goes on, so a state is good once. Expired ones are swept at each new sign-in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from socmon.api.console.sessions import delete_matching
from socmon.api.routes.common import iso
from socmon.indices import IndexNames

COOKIE = "socmon_oidc_state"
COOKIE_PATH = "/login/oidc"


@dataclass(frozen=True, slots=True)
class Pending:
    verifier: str
    nonce: str
    next: str
    redirect_uri: str
    expires: dt.datetime


def logins_index(names: IndexNames) -> str:
    return f"{names.prefix}-oidc-logins"


def state_id(state: str) -> str:
    """The document id of a state (its SHA-256: the index alone gives no usable state)."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def start(
    client: Elasticsearch,
    names: IndexNames,
    verifier: str,
    next_url: str,
    redirect_uri: str,
    address: str,
    timeout: int,
) -> tuple[str, Pending]:
    """Record a new sign-in; returns (state, what the callback will need)."""
    state = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    pending = Pending(
        verifier=verifier,
        nonce=secrets.token_urlsafe(32),
        next=next_url,
        redirect_uri=redirect_uri,
        expires=now + dt.timedelta(seconds=timeout),
    )
    index = logins_index(names)
    delete_matching(client, index, {"range": {"expires": {"lte": iso(now)}}})
    doc: dict[str, Any] = {
        "@timestamp": iso(now),
        "verifier": verifier,
        "nonce": pending.nonce,
        "next": next_url,
        "redirect_uri": redirect_uri,
        "expires": iso(pending.expires),
        "address": address[:256],
    }
    client.create(index=index, id=state_id(state), document=doc)
    return state, pending


def consume(client: Elasticsearch, names: IndexNames, state: str) -> Pending | None:
    """The sign-in of ``state``, removed so it cannot be used again; None when unknown,
    already used or expired."""
    if not state or len(state) > 128:
        return None
    index, doc_id = logins_index(names), state_id(state)
    try:
        src: dict[str, Any] = client.get(index=index, id=doc_id)["_source"]
        client.delete(index=index, id=doc_id)
    except NotFoundError:
        return None
    expires = dt.datetime.fromisoformat(src["expires"].replace("Z", "+00:00"))
    if dt.datetime.now(dt.UTC) >= expires:
        return None
    return Pending(src["verifier"], src["nonce"], src["next"], src["redirect_uri"], expires)
