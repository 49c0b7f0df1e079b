"""rsyslog's repeat compression (issue 12, defect 5): "message repeated N times: [ msg ]"
stands for N more occurrences of msg after the first, which rsyslog logged on its own line
(rsyslog action.c: the repeats are suppressed and counted, then written as one line). The
inner message is parsed like any other and the event carries ``socmon.repeat_count = N``, so
the shipped SSH brute-force correlation (ten failures from one address in five minutes,
rules/sigma/linux/sshd_brute_force.yml) counts the pair of lines N+1 times."""

from __future__ import annotations

from pathlib import Path

import pytest

from socmon.collectors.parsers.syslog import SyslogParser
from socmon.collectors.timeparse import TimeParser
from socmon.rules.hunt import hunt
from socmon.settings import PROJECT_ROOT

RULES = PROJECT_ROOT / "rules" / "sigma" / "linux" / "sshd_brute_force.yml"
BRUTE_FORCE = "ffbe4eca-2102-4b00-bdbf-d2841b905fff"
FIRST = (
    "Nov 24 03:10:00 web-01 sshd[4000]: Failed password for root from 198.51.100.23 port 40000 ssh2"
)


def _repeated(n: int) -> str:
    return (
        f"Nov 24 03:10:30 web-01 sshd[4000]: message repeated {n} times: "
        "[ Failed password for root from 198.51.100.23 port 40000 ssh2]"
    )


def test_inner_message_is_parsed_and_the_count_carried() -> None:
    parse = SyslogParser(TimeParser(year=2025))
    ev = parse(_repeated(4))
    assert ev["event"]["outcome"] == "failure"
    assert "authentication" in ev["event"]["category"]
    assert ev["source"]["ip"] == "198.51.100.23"
    assert ev["user"]["name"] == "root"
    assert ev["message"] == "Failed password for root from 198.51.100.23 port 40000 ssh2"
    assert ev["socmon"]["repeat_count"] == 4
    assert ev["event"]["original"] == _repeated(4)
    assert "repeat_count" not in parse(FIRST).get("socmon", {})


@pytest.mark.parametrize(("repeats", "alerts"), [(8, 0), (9, 1)])
def test_brute_force_counts_repeats(tmp_path: Path, repeats: int, alerts: int) -> None:
    log = tmp_path / "auth.log"
    log.write_text(f"{FIRST}\n{_repeated(repeats)}\n")
    found = [d for d in hunt([RULES], [log]).detections if d.rule_id == BRUTE_FORCE]
    # 1 + repeats failures: the rule fires at ten
    assert len(found) == alerts


@pytest.mark.es
@pytest.mark.parametrize(("repeats", "alerts"), [(8, 0), (9, 1)])
def test_scheduled_brute_force_counts_repeats(
    es_client, names, settings, repeats: int, alerts: int
) -> None:
    """The same rule in scheduled mode, over the events as the collectors store them."""
    from socmon.collectors.enrich import Enricher
    from socmon.collectors.lines import LineHandler
    from socmon.pipeline import ListSink
    from socmon.rules.detection import Detection
    from socmon.rules.loader import load_rules
    from socmon.rules.scheduled_convert import convert
    from tests.rules.test_scheduled_mode import NOW, index_events, iso, runner

    cs = settings.collectors
    sink = ListSink()
    h = LineHandler("syslog", cs, Enricher(cs), sink, source_kind="file", source="auth.log")
    for i, line in enumerate([FIRST, _repeated(repeats)]):
        h.handle(line.encode(), "f", i)
    events = [ev for _, ev in sink.events]
    for k, ev in enumerate(events):  # inside the runner's lookback
        ev["@timestamp"] = iso(NOW - 100 + k)
    index_events(es_client, names, events)
    found: list[Detection] = []
    r = runner(
        es_client,
        names,
        settings,
        convert(load_rules([RULES])),
        {BRUTE_FORCE},
        found,
        scheduled_lookback=600.0,
    )
    r.run_once()
    assert len([d for d in found if d.rule_id == BRUTE_FORCE]) == alerts
