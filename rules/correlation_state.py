"""Where correlation windows survive a restart: the ``<prefix>-state`` index or a local file.

One snapshot per process role (``name``), written whole: ``_id = "correlation:<name>"`` in the
state index (``kind: "correlation"``, the windows under the unindexed ``data`` object), or
``<var_dir>/correlation/<name>.json`` written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

from elasticsearch import Elasticsearch, NotFoundError

from socmon.indices import IndexNames
from socmon.timestamps import now_iso

log = logging.getLogger(__name__)


class StateStore(Protocol):
    def load(self) -> dict[str, Any]:
        """The last saved snapshot ({} when none)."""

    def save(self, data: dict[str, Any]) -> None:
        """Replace the saved snapshot."""


class EsStateStore:
    def __init__(self, client: Elasticsearch, names: IndexNames, name: str = "streaming") -> None:
        self.client = client
        self.index = names.state
        self.doc = f"correlation:{name}"

    def load(self) -> dict[str, Any]:
        try:
            got = self.client.get(index=self.index, id=self.doc)
        except NotFoundError:
            return {}
        data = got["_source"].get("data")
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        now = now_iso()
        self.client.index(
            index=self.index,
            id=self.doc,
            document={"kind": "correlation", "@timestamp": now, "updated": now, "data": data},
        )


class FileStateStore:
    def __init__(self, var_dir: Path, name: str = "streaming") -> None:
        self.path = Path(var_dir) / "correlation" / f"{name}.json"

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning(
                "correlation state file unreadable; starting empty",
                extra={"path": str(self.path), "error": str(e)},
            )
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
