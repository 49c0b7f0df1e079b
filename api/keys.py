"""API keys: created, listed and revoked by admins (CLI or API); stored only as hashes.

A key reads ``smk_<key id>_<secret>``. The key id is the document id in ``<prefix>-apikeys``;
the document holds the SHA-256 of the whole key (keys are 256-bit random, so a fast hash is
as good as a slow one), the role and the organisation units. Verification looks the document
up by id and compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from socmon.api.context import apikeys_index
from socmon.indices import IndexNames
from socmon.settings import Settings
from socmon.timestamps import now_iso

ROLES = ("viewer", "analyst", "admin")
PROVINCE = "*"
PREFIX = "smk_"


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    name: str
    role: str
    units: tuple[str, ...] | None  # None: the whole province
    revoked: bool
    created: str
    created_by: str

    def public(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role,
            "units": list(self.units) if self.units is not None else [PROVINCE],
            "revoked": self.revoked,
            "created": self.created,
            "created_by": self.created_by,
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _record(src: dict[str, Any]) -> KeyRecord:
    units = src.get("units") or []
    return KeyRecord(
        key_id=src["key_id"],
        name=src.get("name", ""),
        role=src.get("role", "viewer"),
        # fail closed: only an explicit ['*'] is the province; no units reads nothing
        units=None if units == [PROVINCE] else tuple(u for u in units if u != PROVINCE),
        revoked=bool(src.get("revoked")),
        created=src.get("created", ""),
        created_by=src.get("created_by", ""),
    )


def configured_units(settings: Settings) -> set[str]:
    """The organisation unit ids a key may be bound to: those configured for the collectors
    (``collectors.organization_units``) and the unit of unmapped sources."""
    c = settings.collectors
    return {u.id for u in c.organization_units} | {c.default_org_id}


def check_units(units: list[str] | None, known: Collection[str] | None) -> list[str]:
    """The units to store: ``None`` is the province (``['*']``); otherwise every id must be
    non-blank and (when ``known`` is given) configured, and ``*`` may only stand alone.
    ValueError says what is wrong: a key never becomes province-wide by accident."""
    if units is None:
        return [PROVINCE]
    if not units:
        raise ValueError("units is empty: give unit ids, or ['*'] for the whole province")
    if any(not isinstance(u, str) or not u.strip() for u in units):
        raise ValueError("unit ids may not be blank")
    if PROVINCE in units:
        if len(units) > 1:
            raise ValueError("'*' (the whole province) must be the only unit")
        return [PROVINCE]
    if known is not None:
        unknown = sorted(set(units) - set(known))
        if unknown:
            raise ValueError(
                f"unknown unit(s): {', '.join(unknown)} (configured: {', '.join(sorted(known))})"
            )
    return list(dict.fromkeys(units))


def ensure_index(client: Elasticsearch, names: IndexNames) -> None:
    """Create the keys index if the templates were applied before it existed."""
    index = apikeys_index(names)
    if not client.indices.exists(index=index):
        try:
            client.indices.create(index=index)
        except Exception as e:
            if "resource_already_exists" not in str(e):
                raise


def create_key(
    client: Elasticsearch,
    names: IndexNames,
    name: str,
    role: str,
    units: list[str] | None,
    actor: str,
    refresh: bool | str = "wait_for",
    known_units: Collection[str] | None = None,
) -> tuple[str, KeyRecord]:
    """Create a key; returns (the key itself, shown once, and its record). ``units`` None is
    the province; see ``check_units`` (ValueError on bad units)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    clean = check_units(units, known_units)
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = now_iso()
    doc = {
        "key_id": key_id,
        "name": name,
        "role": role,
        "units": clean,
        "hash": hash_key(key),
        "revoked": False,
        "created": now,
        "created_by": actor,
        "@timestamp": now,
    }
    ensure_index(client, names)
    client.index(index=apikeys_index(names), id=key_id, document=doc, refresh=refresh)
    return key, _record(doc)


def verify_key(client: Elasticsearch, names: IndexNames, key: str) -> KeyRecord | None:
    """The key's record when the key is valid and not revoked, else None."""
    if not key.startswith(PREFIX):
        return None
    key_id = key[len(PREFIX) :].split("_", 1)[0]
    if not key_id or len(key_id) > 64 or not key_id.isalnum():
        return None
    try:
        doc = client.get(index=apikeys_index(names), id=key_id)
    except NotFoundError:
        return None
    src = doc["_source"]
    if not hmac.compare_digest(str(src.get("hash", "")), hash_key(key)):
        return None
    rec = _record(src)
    return None if rec.revoked else rec


def list_keys(client: Elasticsearch, names: IndexNames) -> list[KeyRecord]:
    try:
        resp = client.search(
            index=apikeys_index(names),
            size=10_000,
            sort=[{"created": "asc"}],
            source_excludes=["hash"],
        )
    except NotFoundError:
        return []
    return [_record(h["_source"]) for h in resp["hits"]["hits"]]


def get_key(client: Elasticsearch, names: IndexNames, key_id: str) -> KeyRecord | None:
    try:
        doc = client.get(index=apikeys_index(names), id=key_id, source_excludes=["hash"])
    except NotFoundError:
        return None
    return _record(doc["_source"])


def revoke_key(
    client: Elasticsearch, names: IndexNames, key_id: str, actor: str
) -> KeyRecord | None:
    """Mark a key revoked (kept for the audit trail); None when it does not exist."""
    rec = get_key(client, names, key_id)
    if rec is None:
        return None
    client.update(
        index=apikeys_index(names),
        id=key_id,
        doc={"revoked": True, "revoked_at": now_iso(), "revoked_by": actor},
        refresh="wait_for",
    )
    return get_key(client, names, key_id)
