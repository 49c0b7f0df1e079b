"""Render docs/configuration.md from the settings model, so the list is never out of date.

Sections (``es``, ``storage``, ...) are one table; the settings that hold structured entries
(file and syslog sources, organisation units, notification channels and routes, ...) get a
table of their own per entry kind, so every field a YAML file may contain is listed, with the
allowed values of each choice.
"""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from socmon.settings import ENV_PREFIX, PACKAGE_DIR, PROJECT_ROOT, Settings

# (path shown in the docs, the entry model, what one entry is)
Nested = tuple[str, type[BaseModel], str]


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _models_in(t: Any) -> list[type[BaseModel]]:
    """The entry models a field's type holds (list[FileSource], dict[str, Channel], ...)."""
    if _is_model(t):
        return [t]
    return [m for a in get_args(t) for m in _models_in(a)]


def _type(t: Any) -> str:
    """A type as a reader writes it in YAML: choices spelled out, ``unset`` for None."""
    origin, args = get_origin(t), get_args(t)
    if t is type(None):
        return "unset"
    if origin is Literal:
        return "one of " + " \\| ".join(f"`{a}`" for a in args)
    if origin is Annotated:
        return _type(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1])}"
    if _is_model(t):
        return f"{t.__name__} entries (below)"
    return str(getattr(t, "__name__", t)).replace("typing.", "")


def _default(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "docs_default" in extra:
        return f"({extra['docs_default']})"
    if info.default_factory is not None:
        try:
            value: Any = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{_plain(value)}`"
    d = info.default
    if d is PydanticUndefined:
        return "**required**"
    if d is None:
        return "unset"
    return f"`{_repo(str(d))}`"


def _repo(s: str) -> str:
    return s.replace(str(PACKAGE_DIR), "<socmon package>").replace(str(PROJECT_ROOT), "<repo>")


def _plain(value: Any) -> str:
    """Defaults as they would be written in YAML/JSON, not as Python reprs."""

    def conv(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json")
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    return _repo(json.dumps(conv(value), ensure_ascii=False, default=str))


def _desc(info: FieldInfo) -> str:
    return (info.description or "").replace("|", "\\|").replace("\n", " ")


def _entry_path(dotted: str, t: Any) -> str:
    """``collectors.files[]`` for a list, ``alerting.channels.<name>`` for a map."""
    inner = get_args(t)[0] if get_origin(t) is Annotated else t
    if get_origin(inner) is dict:
        return f"{dotted}.<name>"
    return f"{dotted}[]"


def _rows(model: type[BaseModel], path: list[str], nested: list[Nested]) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(_rows(ann, [*path, name], nested))  # a section
            continue
        dotted = ".".join([*path, name])
        parts = [*path, name]
        # Only section.field has its own variable; deeper values are set as JSON on the field.
        env = f"`{ENV_PREFIX}{'_'.join(p.upper() for p in parts)}`" if len(parts) <= 2 else "-"
        rows.append(f"| `{dotted}` | {env} | {_type(ann)} | {_default(info)} | {_desc(info)} |")
        for m in _models_in(ann):
            nested.append((_entry_path(dotted, ann), m, _desc(info)))
    return rows


def _entry_table(path: str, model: type[BaseModel], what: str) -> list[str]:
    fields = model.model_fields
    kind = fields.get("type")
    title = f"### `{path}`"
    if kind is not None and get_origin(kind.annotation) is Literal:
        title += f" with `type: {get_args(kind.annotation)[0]}`"
    doc = " ".join((model.__doc__ or "").split())
    lines = [title, "", f"{what} ({model.__name__}){': ' + doc if doc else ''}", ""]
    lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, info in fields.items():
        lines.append(
            f"| `{path}.{name}` | {_type(info.annotation)} | {_default(info)} | {_desc(info)} |"
        )
    return [*lines, ""]


def render() -> str:
    head = [
        "# Configuration",
        "",
        "Generated from `socmon.settings` by `socmon config --docs` (a test checks it is current).",
        "",
        "Settings come from, highest precedence first: `SOCMON_*` environment variables, the YAML",
        "file named by `SOCMON_CONFIG` (or `socmon --config FILE`), then the defaults below.",
        "In YAML, nest by section (`es: {url: ...}`). In the environment, the section and the",
        "field are joined by one underscore (`SOCMON_ES_URL`); structured values (lists, maps)",
        'are given as JSON (`SOCMON_COLLECTORS_FILES=\'[{"paths": ["/var/log/*.log"]}]\'`).',
        "Invalid settings stop socmon at start with one line per problem naming the setting.",
        "",
        "| setting | environment | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    nested: list[Nested] = []
    rows = _rows(Settings, [], nested)
    tail = [
        "",
        "## Structured entries",
        "",
        "The settings above that hold lists or maps of entries take these fields per entry",
        "(`[]`: one entry of a list; `<name>`: the entry's key in a map).",
        "",
    ]
    for path, model, what in nested:
        tail += _entry_table(path, model, what)
    return "\n".join([*head, *rows, *tail]).rstrip("\n") + "\n"
