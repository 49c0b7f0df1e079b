"""Render docs/configuration.md from the settings model, so the list is never out of date."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from socmon.settings import ENV_PREFIX, PROJECT_ROOT, Settings


def _type_name(info: FieldInfo) -> str:
    t = info.annotation
    name = getattr(t, "__name__", None) or str(t)
    return name.replace("typing.", "").replace("pathlib.", "").replace("pydantic.types.", "")


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value: Any = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{_plain(value)}`"
    d = info.default
    if d is None:
        return "unset"
    s = str(d)
    if str(PROJECT_ROOT) in s:
        s = s.replace(str(PROJECT_ROOT), "<repo>")
    return f"`{s}`"


def _plain(value: Any) -> str:
    """Defaults as they would be written in YAML/JSON, not as Python reprs."""
    import json

    def conv(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json")
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    text = json.dumps(conv(value), ensure_ascii=False, default=str)
    return text.replace(str(PROJECT_ROOT), "<repo>")


def _rows(model: type[BaseModel], path: list[str]) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(_rows(ann, [*path, name]))
            continue
        dotted = ".".join([*path, name])
        parts = [*path, name]
        # Only section.field has its own variable; deeper values are set as JSON on the field.
        env = f"`{ENV_PREFIX}{'_'.join(p.upper() for p in parts)}`" if len(parts) <= 2 else "-"
        desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
        typ = _type_name(info).replace("|", "or")
        rows.append(f"| `{dotted}` | {env} | {typ} | {_default(info)} | {desc} |")
    return rows


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
    return "\n".join([*head, *_rows(Settings, [])]) + "\n"
