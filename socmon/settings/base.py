"""What every settings section shares, and where socmon's files and state live."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the socmon package (shipped files)
PROJECT_ROOT = PACKAGE_DIR.parent  # the source checkout when run from one
ENV_PREFIX = "SOCMON_"


def checkout_root() -> Path | None:
    """The source checkout socmon runs from (editable install), None when installed."""
    if (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "deploy").is_dir():
        return PROJECT_ROOT
    return None


def default_var_dir() -> Path:
    """``var/`` of the checkout; installed: /var/lib/socmon for root, else the user's data
    directory (XDG: ``$XDG_DATA_HOME/socmon``, usually ``~/.local/share/socmon``)."""
    root = checkout_root()
    if root is not None:
        return root / "var"
    if os.geteuid() == 0:
        return Path("/var/lib/socmon")
    return Path(platformdirs.user_data_dir("socmon", appauthor=False))


VAR_DIR_DOC = (
    "`var/` of the source checkout when run from one; installed: `/var/lib/socmon` for root, "
    "otherwise the user's data directory (`$XDG_DATA_HOME/socmon`, usually "
    "`~/.local/share/socmon`)"
)


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)
