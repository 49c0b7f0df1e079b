"""One typed settings object, read from ``SOCMON_*`` environment variables and a YAML file.

Precedence (highest first): explicit arguments, environment variables, the YAML file named by
``SOCMON_CONFIG`` (or ``--config``), defaults. Nested settings use one underscore after the
section name: ``SOCMON_ES_URL`` is ``es.url``, ``SOCMON_STORAGE_BATCH_SIZE`` is
``storage.batch_size``. Every setting is listed in docs/configuration.md.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from socmon.settings.alerting import AlertingSettings
from socmon.settings.api import ApiSettings
from socmon.settings.base import (
    ENV_PREFIX,
    PACKAGE_DIR,
    PROJECT_ROOT,
    VAR_DIR_DOC,
    Section,
    checkout_root,
    default_var_dir,
)
from socmon.settings.collectors import CollectorSettings
from socmon.settings.detection import DetectionSettings
from socmon.settings.network import NetworkSettings
from socmon.settings.reports import ReportSettings

__all__ = [
    "ENV_PREFIX",
    "PACKAGE_DIR",
    "PROJECT_ROOT",
    "ElasticsearchSettings",
    "LogSettings",
    "MetricsSettings",
    "Settings",
    "SettingsError",
    "StorageSettings",
    "checkout_root",
    "load_settings",
]


class ElasticsearchSettings(Section):
    url: str | None = Field(
        None,
        description="Existing cluster URL(s), comma separated. Unset: a local node is provisioned.",
    )
    api_key: SecretStr | None = Field(None, description="API key (base64 'id:key' form).")
    username: str | None = Field(None, description="Basic-auth user name.")
    password: SecretStr | None = Field(None, description="Basic-auth password.")
    ca_certs: Path | None = Field(None, description="CA bundle (PEM) to verify the cluster's TLS.")
    verify_certs: bool = Field(True, description="Verify TLS certificates.")
    request_timeout: float = Field(30.0, gt=0, description="Seconds per request.")
    index_prefix: str = Field(
        "socmon",
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="Prefix of every index socmon creates (lower case).",
    )
    number_of_shards: int = Field(
        1,
        ge=1,
        le=1024,
        description="Primary shards of each index socmon creates (its index templates). One "
        "is right for daily event indices below ~50 GB a day.",
    )
    number_of_replicas: int | None = Field(
        None,
        ge=0,
        le=16,
        description="Replicas of each index socmon creates. Unset: decided by `socmon setup` "
        "from the cluster (1 with two or more data nodes, 0 on a single node), logged, and "
        "kept by later starts until the next `socmon setup`.",
    )
    # The node `socmon es up` provisions when ``url`` is not set (deploy/es.sh).
    local_port: int = Field(9200, ge=1, le=65535, description="Local node: HTTP port on 127.0.0.1.")
    local_heap: str = Field(
        "1g", pattern=r"^[0-9]+[mg]$", description="Local node: JVM heap, e.g. 512m or 2g."
    )
    local_java_home: Path | None = Field(
        None, description="Local node: JDK to run it with (default: searched, >= 21)."
    )
    local_nodes: int = Field(
        1,
        ge=1,
        le=9,
        description="Local cluster: nodes `socmon es up` starts (HTTP ports local_port.."
        "local_port+N-1, transport ports +100).",
    )

    @field_validator("url")
    @classmethod
    def _url_has_scheme(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        for part in v.split(","):
            if not part.strip().startswith(("http://", "https://")):
                raise ValueError(f"'{part.strip()}' must start with http:// or https://")
        return v

    @property
    def provisioned(self) -> bool:
        """True when socmon runs its own local node (no cluster configured)."""
        return self.url is None

    @property
    def effective_url(self) -> str:
        """``url``, else every local node's URL (the client spreads requests over them and
        survives one node's death)."""
        ports = range(self.local_port, self.local_port + self.local_nodes)
        return self.url or ",".join(f"http://127.0.0.1:{p}" for p in ports)


class StorageSettings(Section):
    batch_size: int = Field(2000, gt=0, le=100_000, description="Documents per bulk request.")
    batch_bytes: int = Field(
        8 * 1024 * 1024, gt=1024, description="Bytes per bulk request (flushed when reached)."
    )
    flush_interval: float = Field(1.0, gt=0, description="Seconds before a partial batch is sent.")
    max_pending_batches: int = Field(
        4, gt=0, description="Full batches waiting to be sent before producers block."
    )
    senders: int = Field(2, ge=1, le=16, description="Concurrent bulk requests.")
    max_retries: int = Field(
        5, ge=0, description="Retries of a failed request before its batch goes to the spool."
    )
    backoff_initial: float = Field(0.5, gt=0, description="First retry delay (seconds).")
    backoff_max: float = Field(30.0, gt=0, description="Longest retry delay (seconds).")
    spool_dir: Path | None = Field(
        None, description="Disk spool directory (unset: `<var_dir>/spool`)."
    )
    spool_max_bytes: int = Field(
        2 * 1024**3, gt=0, description="Spool size limit; see spool_full_policy."
    )
    spool_full_policy: Literal["block", "drop_oldest"] = Field(
        "block",
        description="When the spool is full: block producers (nothing lost) or drop the oldest "
        "spooled batch (counted in socmon_spool_dropped_documents_total).",
    )
    retention_days: int = Field(
        30, ge=1, description="Days of daily event indices kept; older ones are deleted."
    )
    retention_interval: float = Field(
        3600.0, gt=0, description="Seconds between retention runs in `socmon run`."
    )


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="auto: text when stderr is a terminal, JSON lines otherwise (a service, a "
        "pipe, a file); json or text: always that.",
    )


class MetricsSettings(Section):
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Stand-alone /metrics port for `socmon run` without the API (unset: off).",
    )
    bind: str = Field("127.0.0.1", description="Address of the stand-alone metrics listener.")
    es_poll_interval: float = Field(
        15.0,
        gt=0,
        description="Seconds between reads of the cluster's health, nodes and disk use "
        "(socmon_es_* gauges).",
    )


class Settings(BaseSettings):
    """All of socmon's settings. Later layers add their sections here."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        validate_default=True,
    )

    es: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)  # type: ignore[arg-type, unused-ignore]
    storage: StorageSettings = Field(default_factory=StorageSettings)  # type: ignore[arg-type, unused-ignore]
    log: LogSettings = Field(default_factory=LogSettings)  # type: ignore[arg-type, unused-ignore]
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)  # type: ignore[arg-type, unused-ignore]
    var_dir: Path = Field(
        default_factory=default_var_dir,
        description="State directory: spool, checkpoints, correlation and capture state, the "
        "local Elasticsearch node (download, data, logs). Default: " + VAR_DIR_DOC + ".",
        json_schema_extra={"docs_default": "see meaning"},
    )
    collectors: CollectorSettings = Field(default_factory=CollectorSettings)  # type: ignore[arg-type, unused-ignore]
    network: NetworkSettings = Field(default_factory=NetworkSettings)  # type: ignore[arg-type, unused-ignore]
    detection: DetectionSettings = Field(default_factory=DetectionSettings)  # type: ignore[arg-type, unused-ignore]
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)  # type: ignore[arg-type, unused-ignore]
    api: ApiSettings = Field(default_factory=ApiSettings)  # type: ignore[arg-type, unused-ignore]
    reports: ReportSettings = Field(default_factory=ReportSettings)  # type: ignore[arg-type, unused-ignore]

    @model_validator(mode="after")
    def _follow_var_dir(self) -> Settings:
        """Directories left unset live under ``var_dir``."""
        if self.storage.spool_dir is None:
            self.storage.spool_dir = self.var_dir / "spool"
        if self.detection.rule_cache_dir is None:
            self.detection.rule_cache_dir = self.var_dir / "rule-cache"
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get() or os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


# The YAML file of the load in progress (explicit argument, else SOCMON_CONFIG).
_config_file: ContextVar[str | None] = ContextVar("socmon_config_file", default=None)


class SettingsError(Exception):
    """Invalid settings, with one human-readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


def _env_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return ""
    return ENV_PREFIX + "_".join(p.upper() for p in parts[:2])


def _describe(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e.get("loc", ()))
        dotted = ".".join(str(p) for p in loc) or "(root)"
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = "unknown setting"
        value = e.get("input")
        shown = "" if isinstance(value, dict | list) or value is None else f" (got {value!r})"
        problems.append(f"{dotted} [{_env_name(loc)}]: {msg}{shown}")
    return problems


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise SettingsError naming each bad setting."""
    if config_file is not None:
        cfg: str | None = str(config_file)
        if not Path(config_file).is_file():
            raise SettingsError([f"config file {config_file}: not found"])
    else:
        cfg = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if cfg and not Path(cfg).is_file():
            raise SettingsError([f"config file {cfg} [{ENV_PREFIX}CONFIG]: not found"])
    token = _config_file.set(cfg)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise SettingsError(_describe(e)) from None
    except Exception as e:  # YAML syntax errors and the like
        raise SettingsError([f"config file {cfg}: {e}"]) from None
    finally:
        _config_file.reset(token)
