"""Server-side console sessions in Elasticsearch (``<prefix>-sessions``).

The cookie holds a random token; the index holds only its SHA-256 (a stolen index does not
give working cookies), the user name, the CSRF token, and the two expiries: idle
(``api.console_session_idle_seconds`` since last use) and absolute
(``api.console_session_max_hours`` since sign-in). Expired sessions are deleted when met and
swept at each sign-in; signing out, disabling a user or changing a password deletes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from fastapi import Request, Response

from socmon.api.routes.common import iso
from socmon.indices import IndexNames
from socmon.settings.api import ApiSettings

COOKIE = "socmon_session"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str  # sha256 of the cookie token: the document id
    user: str
    csrf: str
    created: dt.datetime
    last_seen: dt.datetime
    expires: dt.datetime


def sessions_index(names: IndexNames) -> str:
    return f"{names.prefix}-sessions"


def _parse(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))


def _sid(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(
    client: Elasticsearch,
    names: IndexNames,
    s: ApiSettings,
    user: str,
    address: str,
    user_agent: str,
) -> tuple[str, Session]:
    """A new session; returns (the cookie token, the session)."""
    token = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    sess = Session(
        sid=_sid(token),
        user=user,
        csrf=secrets.token_urlsafe(32),
        created=now,
        last_seen=now,
        expires=now + dt.timedelta(hours=s.console_session_max_hours),
    )
    client.index(
        index=sessions_index(names),
        id=sess.sid,
        document={
            "@timestamp": iso(now),
            "user": user,
            "csrf": sess.csrf,
            "created": iso(now),
            "last_seen": iso(now),
            "expires": iso(sess.expires),
            "address": address[:256],
            "user_agent": user_agent[:512],
        },
        refresh="wait_for",
    )
    sweep(client, names, s)
    return token, sess


def expired(sess: Session, s: ApiSettings, now: dt.datetime) -> bool:
    """Past its absolute expiry, or unused for longer than the idle time."""
    idle = dt.timedelta(seconds=s.console_session_idle_seconds)
    return now >= sess.expires or now >= sess.last_seen + idle


def lookup(client: Elasticsearch, names: IndexNames, s: ApiSettings, token: str) -> Session | None:
    """The live session of a cookie token (its last use recorded), or None."""
    if not token or len(token) > 128:
        return None
    sid = _sid(token)
    try:
        src: dict[str, Any] = client.get(index=sessions_index(names), id=sid)["_source"]
    except NotFoundError:
        return None
    sess = Session(
        sid=sid,
        user=src["user"],
        csrf=src["csrf"],
        created=_parse(src["created"]),
        last_seen=_parse(src["last_seen"]),
        expires=_parse(src["expires"]),
    )
    now = dt.datetime.now(dt.UTC)
    if expired(sess, s, now):
        delete(client, names, sid)
        return None
    # One write per minute at most (or per tenth of the idle time when that is shorter).
    if (now - sess.last_seen).total_seconds() >= min(60.0, s.console_session_idle_seconds / 10):
        client.update(index=sessions_index(names), id=sid, doc={"last_seen": iso(now)})
    return sess


def delete(client: Elasticsearch, names: IndexNames, sid: str) -> None:
    client.options(ignore_status=404).delete(
        index=sessions_index(names), id=sid, refresh="wait_for"
    )


def delete_for_user(client: Elasticsearch, names: IndexNames, user: str) -> int:
    """End every session of a user (disabled, password changed); returns how many."""
    return delete_matching(client, sessions_index(names), {"term": {"user": user}})


def sweep(client: Elasticsearch, names: IndexNames, s: ApiSettings) -> int:
    """Delete sessions past their absolute or idle expiry (no delete-by-query in this build)."""
    now = dt.datetime.now(dt.UTC)
    idle_cut = now - dt.timedelta(seconds=s.console_session_idle_seconds)
    q = {
        "bool": {
            "should": [
                {"range": {"expires": {"lte": iso(now)}}},
                {"range": {"last_seen": {"lte": iso(idle_cut)}}},
            ],
            "minimum_should_match": 1,
        }
    }
    return delete_matching(client, sessions_index(names), q)


def delete_matching(client: Elasticsearch, index: str, query: dict[str, Any]) -> int:
    """Delete the documents of ``index`` matching ``query`` (1,000 per call); how many."""
    try:
        resp = client.search(index=index, query=query, size=1000, source=False)
    except NotFoundError:
        return 0
    ids = [h["_id"] for h in resp["hits"]["hits"]]
    if ids:
        ops = [{"delete": {"_index": index, "_id": i}} for i in ids]
        client.bulk(operations=ops, refresh="wait_for")
    return len(ids)


def set_cookie(request: Request, response: Response, token: str) -> None:
    # No Max-Age: the browser forgets it when closed; the server enforces both expiries.
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")
