"""Rule packs (`socmon rules import|update`): every rule of a pack accounted for, idempotent
re-import, versions by "import", local edits not overwritten, audit, hot reload, and the
SigmaHQ release fetched over HTTP and imported in bulk."""

from __future__ import annotations

import http.server
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from elasticsearch import Elasticsearch

from socmon.cli import cli
from socmon.indices import IndexNames
from socmon.rules import store
from socmon.rules.packs import PackFilter, import_pack
from socmon.settings import Settings

pytestmark = pytest.mark.es

RULE = """title: pack rule {n}
id: 9a7c0000-0000-4000-8000-00000000000{n}
status: {status}
level: {level}
description: a rule of the test pack
logsource:
  product: {product}
  service: auth
detection:
  sel:
    message|contains: 'packneedle{n}'
  condition: sel
tags:
  - attack.credential_access
  - attack.t1110
"""


def _rule(n: int, status: str = "test", level: str = "high", product: str = "linux") -> str:
    return RULE.format(n=n, status=status, level=level, product=product)


def _pack(root: Path) -> Path:
    """A pack whose outcome is known by construction: 3 good rules (2 linux, 1 windows), one
    deprecated, one with an unknown modifier, one without id, one duplicate id, one regex RE2
    cannot run, one file of two YAML documents, one file that is not UTF-8."""
    d = root / "pack"
    (d / "linux").mkdir(parents=True)
    (d / "windows").mkdir()
    (d / "linux" / "r1.yml").write_text(_rule(1))
    (d / "linux" / "r2.yml").write_text(_rule(2, level="medium"))
    (d / "windows" / "r3.yml").write_text(_rule(3, product="windows"))
    (d / "linux" / "r4.yml").write_text(_rule(4, status="deprecated"))
    (d / "linux" / "bad_modifier.yml").write_text(
        _rule(5).replace("message|contains", "message|contanis")
    )
    (d / "linux" / "no_id.yml").write_text(re.sub(r"(?m)^id: .*\n", "", _rule(6)))
    (d / "linux" / "zz_dup.yml").write_text(_rule(1).replace("pack rule 1", "copy"))
    (d / "linux" / "lookaround.yml").write_text(
        _rule(7).replace("message|contains: 'packneedle7'", "message|re: 'a(?=b)'")
    )
    (d / "linux" / "two.yml").write_text(_rule(8) + "---\n" + _rule(9))
    (d / "linux" / "latin1.yml").write_bytes(_rule(10).encode("utf-8") + b"# caf\xe9\n")
    (d / "README.md").write_text("not a rule")
    return d


def _versions(client: Elasticsearch, names: IndexNames) -> int:
    client.indices.refresh(index=names.rules)
    return int(client.count(index=names.rules, query={"term": {"kind": "version"}})["count"])


def _audit(client: Elasticsearch, names: IndexNames, action: str) -> list[dict[str, Any]]:
    client.indices.refresh(index=names.audit)
    r = client.search(index=names.audit, query={"term": {"action": action}}, size=1000)
    return [h["_source"] for h in r["hits"]["hits"]]


def test_import_report_idempotence_versions_conflicts_audit(
    es_client: Elasticsearch, names: IndexNames, tmp_path: Path
) -> None:
    pack = _pack(tmp_path)
    rep = import_pack(es_client, names, pack, PackFilter())
    assert rep.files == 10
    assert sorted(rep.imported) == [f"9a7c0000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)]
    assert rep.updated == [] and rep.unchanged == [] and rep.errors == []
    assert dict(rep.filtered) == {"status deprecated (select it with --status)": 1}
    kinds = sorted((Path(s.path).name, s.kind) for s in rep.skipped)
    assert [k[0] for k in kinds] == [
        "bad_modifier.yml",
        "latin1.yml",
        "lookaround.yml",
        "no_id.yml",
        "two.yml",
        "zz_dup.yml",
    ]
    assert dict(kinds)["no_id.yml"] == "no-id" and dict(kinds)["zz_dup.yml"] == "duplicate"
    assert dict(kinds)["two.yml"] == "collection" and dict(kinds)["latin1.yml"] == "io"
    assert dict(kinds)["lookaround.yml"] == "regex-unsafe"
    # every file accounted for once
    s = rep.summary()
    assert s["imported"] + s["filtered"] + s["skipped"] == rep.files
    assert rep.by_product()["linux"]["imported"] == 2
    assert rep.by_product()["windows"] == {"imported": 1}
    doc = store.get_rule(es_client, names, "9a7c0000-0000-4000-8000-000000000001")
    assert doc is not None and doc["version"] == 1 and doc["updated_by"] == "import"
    assert doc["enabled"] is False and doc["import"]["path"] == "linux/r1.yml"
    assert _versions(es_client, names) == 3
    assert len(_audit(es_client, names, "rule.import")) == 3
    [summary] = _audit(es_client, names, "rules.import")
    assert summary["after"]["imported"] == 3 and summary["actor"] == "import"

    # the same pack again: nothing written
    rep2 = import_pack(es_client, names, pack, PackFilter())
    assert rep2.imported == [] and rep2.updated == [] and len(rep2.unchanged) == 3
    assert _versions(es_client, names) == 3
    assert len(_audit(es_client, names, "rule.import")) == 3

    # a changed rule: a new version by "import", its enabled state kept
    store.set_enabled(es_client, names, "9a7c0000-0000-4000-8000-000000000002", True, "key:ad")
    (pack / "linux" / "r2.yml").write_text(_rule(2, level="high"))
    rep3 = import_pack(es_client, names, pack, PackFilter())
    assert rep3.updated == ["9a7c0000-0000-4000-8000-000000000002"]
    doc2 = store.get_rule(es_client, names, "9a7c0000-0000-4000-8000-000000000002")
    assert doc2 is not None
    assert doc2["version"] == 3 and doc2["level"] == "high" and doc2["enabled"] is True
    history = store.versions(es_client, names, "9a7c0000-0000-4000-8000-000000000002")
    assert [(v["version"], v["updated_by"], v["change"]) for v in history] == [
        (1, "import", "created"),
        (2, "key:ad", "enabled"),
        (3, "import", "updated"),
    ]

    # an edit in socmon is not overwritten by the pack, unless asked
    rid1 = "9a7c0000-0000-4000-8000-000000000001"
    store.save_rule(es_client, names, rid1, _rule(1).replace("pack rule 1", "local"), "key:ad")
    (pack / "linux" / "r1.yml").write_text(_rule(1, level="low"))
    rep4 = import_pack(es_client, names, pack, PackFilter())
    assert rep4.conflicts == [(rid1, "edited in socmon since it was imported")]
    assert "local" in (store.get_rule(es_client, names, rid1) or {})["title"]
    rep5 = import_pack(es_client, names, pack, PackFilter(), overwrite=True)
    assert rep5.updated == [rid1]
    assert (store.get_rule(es_client, names, rid1) or {})["level"] == "low"

    # a rule deleted in socmon stays deleted
    store.delete_rule(es_client, names, "9a7c0000-0000-4000-8000-000000000003", "key:ad")
    rep6 = import_pack(es_client, names, pack, PackFilter())
    assert rep6.conflicts == [("9a7c0000-0000-4000-8000-000000000003", "deleted in socmon")]


def test_filters(es_client: Elasticsearch, names: IndexNames, tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    rep = import_pack(es_client, names, pack, PackFilter(level=("high",), product=("linux",)))
    assert rep.imported == ["9a7c0000-0000-4000-8000-000000000001"]
    assert rep.filtered["level medium not selected"] == 1
    assert rep.filtered["product windows not selected"] == 1
    rep = import_pack(es_client, names, pack, PackFilter(status=("deprecated",)))
    assert rep.imported == ["9a7c0000-0000-4000-8000-000000000004"]


def test_imported_rule_fires_in_the_running_engine(
    settings: Settings, names: IndexNames, es_client: Elasticsearch, tmp_path: Path
) -> None:
    from socmon.rules.services import build
    from socmon.runner import build_context

    s = settings.model_copy(
        update={
            "detection": settings.detection.model_copy(
                update={
                    "rule_paths": [],
                    "extra_rule_paths": [],
                    "scheduled_enabled": False,
                    "store_poll_interval": 0.2,
                    "correlation_state": "off",
                }
            )
        }
    )
    ctx = build_context(s)
    [svc] = build(ctx)
    svc.start()
    try:
        pack = tmp_path / "one"
        pack.mkdir()
        (pack / "r1.yml").write_text(_rule(1))
        rep = import_pack(es_client, names, pack, PackFilter(), enable_new=True)
        assert len(rep.imported) == 1
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and svc.engine.rule(rep.imported[0]) is None:
            time.sleep(0.1)
        assert svc.engine.rule(rep.imported[0]) is not None
        event = {
            "@timestamp": "2026-11-24T10:00:00.000Z",
            "event": {"dataset": "linux.auth", "kind": "event"},
            "message": "sshd: packneedle1 seen",
            "organization": {"id": "t", "name": "t"},
        }
        ctx.events.emit("ev-pack-1", event)
        assert svc.drain()
        ctx.writer.flush(10)
        es_client.indices.refresh(index=names.alerts)
        hits = es_client.search(index=names.alerts, size=10)["hits"]["hits"]
        assert [h["_source"]["rule"]["id"] for h in hits] == [rep.imported[0]]
    finally:
        svc.stop()
        ctx.writer.close()


# ---------------------------------------------------------------- the SigmaHQ release over HTTP


@pytest.fixture
def served_zip(datasets: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The shared SigmaHQ corpus's rule folders as a release zip (``rules*/``, the layout of
    sigma_all_rules.zip), served by a real HTTP server on a free port."""
    root = datasets / "sigmahq"
    zpath = tmp_path / "www" / "sigma_all_rules.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder in sorted(root.glob("rules*")):
            for f in sorted(folder.rglob("*.yml")):
                zf.write(f, f.relative_to(root).as_posix())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(zpath.parent), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/{zpath.name}", root
    finally:
        srv.shutdown()


@pytest.mark.datasets
@pytest.mark.slow
def test_update_fetches_and_imports_the_sigmahq_release(
    served_zip: tuple[str, Path],
    settings: Settings,
    names: IndexNames,
    es_client: Elasticsearch,
    tmp_path: Path,
) -> None:
    url, root = served_zip
    # expected from the files themselves (a line scan, not the importer's YAML reading)
    status_re = re.compile(r"(?m)^status:\s*([a-z]+)")
    statuses = [
        status_re.search(f.read_text(encoding="utf-8"))
        for folder in root.glob("rules*")
        for f in folder.rglob("*.yml")
    ]
    kept = [m.group(1) for m in statuses if m and m.group(1) not in ("deprecated", "unsupported")]
    assert len(kept) >= 3000
    cfg = tmp_path / "socmon.yaml"
    cfg.write_text(
        f"es:\n  url: {settings.es.url}\n  index_prefix: {settings.es.index_prefix}\n"
        f"var_dir: {tmp_path / 'var'}\n"
    )
    runner = CliRunner()
    t0 = time.perf_counter()
    res = runner.invoke(cli, ["-c", str(cfg), "rules", "update", url, "--json"])
    took = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    rep = orjson.loads(res.stdout[res.stdout.index("{") :])
    sm = rep["summary"]
    # SigmaHQ's rules all load and compile here (bench/sigma_engine.py: 0 unusable)
    assert rep["skipped"] == [] and sm["errors"] == 0
    assert sm["imported"] == len(kept) and sm["filtered"] == len(statuses) - len(kept)
    assert _versions(es_client, names) == len(kept)
    print(f"imported {sm['imported']} rules in {took:.1f} s: {rep['seconds']}")

    res2 = runner.invoke(cli, ["-c", str(cfg), "rules", "update", url, "--json"])
    assert res2.exit_code == 0, res2.output
    sm2 = orjson.loads(res2.stdout[res2.stdout.index("{") :])["summary"]
    assert sm2["unchanged"] == len(kept) and sm2["imported"] == sm2["updated"] == 0
    assert _versions(es_client, names) == len(kept)


def test_update_reports_an_unreachable_url(settings: Settings, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a free port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = tmp_path / "socmon.yaml"
    cfg.write_text(
        f"es:\n  url: {settings.es.url}\n  index_prefix: {settings.es.index_prefix}\n"
        f"var_dir: {tmp_path / 'var'}\n"
    )
    res = CliRunner().invoke(
        cli, ["-c", str(cfg), "rules", "update", f"http://127.0.0.1:{port}/x.zip"]
    )
    assert res.exit_code == 1 and "ConnectError" in res.output


@pytest.mark.datasets
@pytest.mark.slow
def test_bench_rule_import_tiny(datasets: Path, es_url: str) -> None:
    """bench/rule_import.py runs on 40 files of the corpus and ends with its JSON line."""
    import subprocess
    import sys

    from socmon.settings import PROJECT_ROOT

    r = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "rule_import.py"),
            *("--pack", str(datasets / "sigmahq" / "rules"), "--limit", "40"),
            *("--baseline", "5", "--es-url", es_url),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    last = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert last["bench"] == "rule_import" and last["files"] == 40 and last["errors"] == 0
    assert last["imported"] + last["filtered"] + last["skipped"] == 40
    assert last["reimport_unchanged"] == last["imported"] and last["reimport_written"] == 0
    assert last["baseline_rules"] == 5 and last["baseline_rules_per_s"] > 0


def test_checkout_layouts_read_only_rule_folders(tmp_path: Path) -> None:
    """A GitHub archive of a SigmaHQ checkout (one top folder): only the rule folders are
    read, from the zip in memory; a folder without `rules/` is read whole."""
    from socmon.rules.packs import PackError, Skipped, read_pack

    z = tmp_path / "sigma-master.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("sigma-master/rules/linux/r1.yml", _rule(1))
        zf.writestr("sigma-master/rules-emerging-threats/2024/r2.yml", _rule(2))
        zf.writestr("sigma-master/deprecated/r4.yml", _rule(4, status="deprecated"))
        zf.writestr("sigma-master/tests/test_rules.yml", "not: a rule")
        zf.writestr("sigma-master/.github/workflows/ci.yml", "on: push")
        zf.writestr("sigma-master/README.md", "readme")
    skipped: list[Skipped] = []
    got = sorted(f.path for f in read_pack(z, skipped))
    assert got == [
        "sigma-master/deprecated/r4.yml",
        "sigma-master/rules-emerging-threats/2024/r2.yml",
        "sigma-master/rules/linux/r1.yml",
    ]
    assert skipped == []
    plain = tmp_path / "mine" / "sub"
    plain.mkdir(parents=True)
    (plain / "a.yaml").write_text(_rule(1))
    assert [f.path for f in read_pack(tmp_path / "mine", skipped)] == ["sub/a.yaml"]
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(PackError, match="not a folder, a zip file or a rule file"):
        read_pack(tmp_path / "x.txt", skipped)
