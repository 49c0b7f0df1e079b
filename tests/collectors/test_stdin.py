"""`socmon collect --stdin` into the real Elasticsearch (issue 12, defect 1): ids come from
the content, so a second run over different lines stores them all and a replay of the same
lines stores nothing twice."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from socmon.indices import IndexNames
from socmon.settings import PROJECT_ROOT
from tests.collectors.test_es import _collect_config, _count

pytestmark = pytest.mark.es

SOCMON = str(PROJECT_ROOT / ".venv" / "bin" / "socmon")


def _sshd_batch(first_ip: int, n: int = 30) -> bytes:
    """``n`` sshd failures, each from its own address (203.0.113.<first_ip + i>)."""
    return b"".join(
        f"Mar  7 10:{i:02d}:00 web1 sshd[42{i:02d}]: Failed password for root from "
        f"203.0.113.{first_ip + i} port 22 ssh2\n".encode()
        for i in range(n)
    )


def _collect_stdin(config: Path, data: bytes) -> None:
    r = subprocess.run(
        [SOCMON, "collect", "--stdin"],
        input=data,
        env=dict(os.environ, SOCMON_CONFIG=str(config)),
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode()


def test_two_stdin_batches_both_reach_es_and_a_replay_duplicates_nothing(
    es_client: Elasticsearch, es_url: str, names: IndexNames, index_prefix: str, tmp_path: Path
) -> None:
    config = _collect_config(
        tmp_path, es_url, index_prefix, {}, 100, 0.1, collectors={"stdin_format": "syslog"}
    )
    first, second = _sshd_batch(1), _sshd_batch(101)
    _collect_stdin(config, first)
    assert _count(es_client, names) == 30
    _collect_stdin(config, second)  # different lines at the same byte offsets
    assert _count(es_client, names) == 60
    _collect_stdin(config, first + second)  # a replay of both
    assert _count(es_client, names) == 60
    ips = es_client.search(
        index=names.events_pattern,
        size=0,
        aggs={"ip": {"cardinality": {"field": "source.ip"}}},
    )["aggregations"]["ip"]["value"]
    assert ips == 60


def test_a_line_repeated_in_one_input_is_kept_each_time(
    es_client: Elasticsearch, es_url: str, names: IndexNames, index_prefix: str, tmp_path: Path
) -> None:
    config = _collect_config(
        tmp_path, es_url, index_prefix, {}, 100, 0.1, collectors={"stdin_format": "syslog"}
    )
    line = b"Mar  7 10:00:00 web1 sshd[1]: Connection closed by 198.51.100.9 port 22\n"
    _collect_stdin(config, line * 3)
    assert _count(es_client, names) == 3
    _collect_stdin(config, line * 3)  # the same input again
    assert _count(es_client, names) == 3


def test_stdin_ids_follow_content_and_bad_lines_are_reported_by_line_number(caplog) -> None:
    import io
    import logging
    import uuid

    from socmon.collectors.enrich import Enricher
    from socmon.collectors.lines import LineHandler
    from socmon.collectors.sources.stdin import StdinReader
    from socmon.pipeline import ListSink
    from socmon.settings.collectors import CollectorSettings

    label = f"stdin-{uuid.uuid4().hex}"

    def ids(data: bytes) -> list[str]:
        cs = CollectorSettings()
        sink = ListSink()
        # a source of its own: bad-input log lines are throttled per source
        h = LineHandler("jsonl", cs, Enricher(cs), sink, source_kind="stdin", source=label)
        StdinReader(h, io.BytesIO(data)).run()
        return [i for i, _ in sink.events]

    a, b = b'{"n": 1}\n', b'{"n": 2}\n'
    first = ids(a + b + a)
    assert len(set(first)) == 3  # the repeated line is kept twice
    assert ids(a + b + a) == first  # a replay: the same ids
    assert ids(b + a + a) == [first[1], first[0], first[2]]  # by content, not by place
    with caplog.at_level(logging.WARNING, logger="socmon.collectors.metrics"):
        ids(a + b"\n" + b"{not json\n")
    bad = [r for r in caplog.records if getattr(r, "kind", None) == "parse_failure"]
    assert [getattr(r, "position", None) for r in bad] == ["line 3"]
