"""Local console users in Elasticsearch (``<prefix>-users``), passwords hashed with argon2id.

Roles and units mean what they mean for API keys (``socmon.api.keys``): a user bound to units
sees only them, a user without units sees the province. ``principal`` turns a user into the
same ``Principal`` the API routes scope their queries with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from socmon.api.auth import Principal
from socmon.api.keys import PROVINCE, ROLES
from socmon.indices import IndexNames
from socmon.timestamps import now_iso

OIDC_PREFIX = "oidc:"  # OIDC users' names: never a local name (':' is not allowed in one)
NAME = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"
NAME_RE = re.compile(f"^{NAME}$")
ANY_NAME = f"^({OIDC_PREFIX})?{NAME}$"  # a local user's name or an OIDC user's record
MIN_PASSWORD = 12
LANGUAGES = ("vi", "en")

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()
# Verified when the user does not exist, so an unknown name costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("socmon-no-such-user")


class UserError(ValueError):
    """A user cannot be created or changed as asked (message says why)."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    units: tuple[str, ...] | None  # None: the whole province
    disabled: bool
    language: str | None
    created: str
    source: str = "local"  # or "oidc": signs in at the provider, no password here

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "units": list(self.units) if self.units is not None else [PROVINCE],
            "disabled": self.disabled,
            "language": self.language,
            "created": self.created,
            "source": self.source,
        }


def users_index(names: IndexNames) -> str:
    return f"{names.prefix}-users"


def principal(user: User) -> Principal:
    """The API's principal for a console user: queries are scoped exactly as for a key."""
    return Principal(f"user:{user.name}", user.role, user.units, f"user:{user.name}")


def _record(src: dict[str, Any]) -> User:
    units = src.get("units") or [PROVINCE]
    return User(
        name=src["name"],
        role=src.get("role", "viewer"),
        units=None if PROVINCE in units else tuple(units),
        disabled=bool(src.get("disabled")),
        language=src.get("language"),
        created=src.get("created", ""),
        source=src.get("source", "local"),
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")


def create_user(
    client: Elasticsearch,
    names: IndexNames,
    name: str,
    role: str,
    units: list[str] | None,
    password: str,
    actor: str,
    refresh: bool | str = "wait_for",
) -> User:
    if not NAME_RE.match(name):
        raise UserError("the name may hold letters, digits, '.', '_', '@' and '-' (64 at most)")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    check_password(password)
    clean = [u.strip() for u in units or [] if u.strip()] or [PROVINCE]
    now = now_iso()
    doc = {
        "@timestamp": now,
        "name": name,
        "role": role,
        "units": clean,
        "password_hash": _hasher.hash(password),
        "disabled": False,
        "created": now,
        "created_by": actor,
        "password_changed": now,
    }
    try:
        client.create(index=users_index(names), id=name, document=doc, refresh=refresh)
    except Exception as e:
        if "version_conflict" in str(e):
            raise UserError(f"a user named '{name}' already exists") from None
        raise
    return _record(doc)


def get_user(client: Elasticsearch, names: IndexNames, name: str) -> User | None:
    try:
        doc = client.get(index=users_index(names), id=name, source_excludes=["password_hash"])
    except NotFoundError:
        return None
    return _record(doc["_source"])


def list_users(client: Elasticsearch, names: IndexNames) -> list[User]:
    try:
        resp = client.search(
            index=users_index(names),
            size=10_000,
            sort=[{"name": "asc"}],
            source_excludes=["password_hash"],
        )
    except NotFoundError:
        return []
    return [_record(h["_source"]) for h in resp["hits"]["hits"]]


def count_users(client: Elasticsearch, names: IndexNames) -> int:
    try:
        return int(client.count(index=users_index(names))["count"])
    except NotFoundError:
        return 0


def authenticate(client: Elasticsearch, names: IndexNames, name: str, password: str) -> User | None:
    """The user when the name exists, is enabled and the password matches; else None."""
    src: dict[str, Any] | None = None
    if NAME_RE.match(name):
        try:
            src = client.get(index=users_index(names), id=name)["_source"]
        except NotFoundError:
            src = None
    stored = str(src.get("password_hash", "")) if src else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if src is None or src.get("disabled"):
        return None
    if _hasher.check_needs_rehash(stored):
        _update(client, names, name, {"password_hash": _hasher.hash(password)}, "rehash")
    return _record(src)


def _update(
    client: Elasticsearch, names: IndexNames, name: str, fields: dict[str, Any], actor: str
) -> User:
    try:
        client.update(
            index=users_index(names),
            id=name,
            doc={**fields, "updated": now_iso(), "updated_by": actor},
            refresh="wait_for",
        )
    except NotFoundError:
        raise UserError(f"no user named '{name}'") from None
    user = get_user(client, names, name)
    assert user is not None
    return user


FROM_PROVIDER = "this user signs in at the OIDC provider: password, role and units come from it"


def _local(client: Elasticsearch, names: IndexNames, name: str) -> None:
    """Refuse to set what an OIDC user's provider decides."""
    user = get_user(client, names, name)
    if user is not None and user.source == "oidc":
        raise UserError(FROM_PROVIDER)


def set_password(
    client: Elasticsearch, names: IndexNames, name: str, password: str, actor: str
) -> User:
    check_password(password)
    _local(client, names, name)
    return _update(
        client,
        names,
        name,
        {"password_hash": _hasher.hash(password), "password_changed": now_iso()},
        actor,
    )


def set_disabled(
    client: Elasticsearch, names: IndexNames, name: str, disabled: bool, actor: str
) -> User:
    return _update(client, names, name, {"disabled": disabled}, actor)


def set_language(
    client: Elasticsearch, names: IndexNames, name: str, language: str, actor: str
) -> User:
    if language not in LANGUAGES:
        raise UserError(f"language must be one of {', '.join(LANGUAGES)}")
    return _update(client, names, name, {"language": language}, actor)


def set_access(
    client: Elasticsearch,
    names: IndexNames,
    name: str,
    role: str,
    units: list[str] | None,
    actor: str,
) -> User:
    """Change a user's role and units (no units: the whole province)."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    _local(client, names, name)
    clean = [u.strip() for u in units or [] if u.strip()] or [PROVINCE]
    return _update(client, names, name, {"role": role, "units": clean}, actor)


class OidcConflict(UserError):
    """Another subject of the same provider already holds this name."""


def record_oidc_user(
    client: Elasticsearch,
    names: IndexNames,
    name: str,
    subject: str,
    issuer: str,
    role: str,
    units: tuple[str, ...] | None,
) -> User:
    """The password-less record of an OIDC user (``oidc:<name>``) at sign-in: created the
    first time; role, units and last sign-in updated from the provider's claims each time,
    unless an administrator disabled it (then left as it is: the caller refuses). The same
    name from another subject of the same issuer is refused (``OidcConflict``)."""
    uid = OIDC_PREFIX + name
    now = now_iso()
    stored = [*units] if units is not None else [PROVINCE]
    fields = {"role": role, "units": stored, "subject": subject, "issuer": issuer}
    try:
        src: dict[str, Any] | None = client.get(
            index=users_index(names), id=uid, source_excludes=["password_hash"]
        )["_source"]
    except NotFoundError:
        src = None
    if src is None:
        doc = {
            "@timestamp": now,
            "name": uid,
            **fields,
            "source": "oidc",
            "disabled": False,
            "created": now,
            "created_by": "oidc",
            "last_login": now,
        }
        try:
            client.create(index=users_index(names), id=uid, document=doc, refresh="wait_for")
            return _record(doc)
        except ConflictError:  # a first sign-in in two tabs at once: update the other's
            return record_oidc_user(client, names, name, subject, issuer, role, units)
    if src.get("issuer") == issuer and src.get("subject") not in (None, subject):
        raise OidcConflict(f"'{uid}' belongs to another subject of {issuer}")
    if src.get("disabled"):
        return _record(src)
    return _update(client, names, uid, {**fields, "last_login": now}, "oidc")
