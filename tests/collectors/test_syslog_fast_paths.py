"""The syslog fast paths give exactly what the general code gives (same fields, same order)."""

from __future__ import annotations

import datetime as dt

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from socmon.collectors.parsers import apps
from socmon.collectors.parsers.syslog import SyslogParser
from socmon.collectors.timeparse import TimeParser

REFERENCE = dt.datetime(2005, 8, 14, 12, 0, tzinfo=dt.UTC)
MONTHS = st.sampled_from(["Jan", "Feb", "Jun", "Dec", "Foo", "jan", "JAN"])
TWO = st.one_of(
    st.integers(0, 99).map(lambda i: f"{i:02d}"),
    st.integers(0, 9).map(lambda i: f" {i}"),
    st.text(alphabet="0123456789 :x\u0663\u00b2", min_size=2, max_size=2),
)


@given(MONTHS, TWO, TWO, TWO, TWO, st.sampled_from([":", ":", " ", "."]))
def test_bsd_equals_general(mon: str, d: str, h: str, mi: str, s: str, sep: str) -> None:
    text = f"{mon} {d} {h}:{mi}{sep}{s}"
    for tz in ("UTC", "Europe/Zurich"):
        fast, general = TimeParser(tz, reference=REFERENCE), TimeParser(tz, reference=REFERENCE)
        try:
            want: object = general._bsd(text)
        except ValueError as e:  # the general code's own limits stay as they are
            want = repr(e)
        try:
            got: object = fast.bsd(text)
        except ValueError as e:
            got = repr(e)
        assert got == want


@given(
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".1", ".12", ".123", ".1234567", "."]),
    st.sampled_from(["Z", "z", "+00:00", ""]),
)
def test_isoish_equals_general(
    y: int, mo: int, d: int, h: int, mi: int, s: int, frac: str, zone: str
) -> None:
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}"
    assert TimeParser().isoish(text) == TimeParser()._isoish(text)


@given(st.text(max_size=40))
def test_isoish_equals_general_any_text(text: str) -> None:
    assert TimeParser().isoish(text) == TimeParser()._isoish(text)


WORD = st.text(alphabet="abz09-._/()<[]:\u00a0\u0663\u00b2", min_size=0, max_size=8)
LINE = st.builds(
    lambda pri, mon, d, hms, host, prog, pid, colon, msg: (
        f"{pri}{mon} {d} {hms} {host} {prog}{pid}{colon}{msg}"
    ),
    st.sampled_from(["", "<4>", "<165>", "<191>", "<192>", "<007>", "<1>1 "]),
    MONTHS,
    TWO,
    st.sampled_from(["00:00:00", "23:59:60", "24:00:00", "12:61:00", "1:02:03"]),
    WORD,
    WORD,
    st.sampled_from(["", "[123]", "[]", "[1 2]", "[x]"]),
    st.sampled_from(["", ":", "::"]),
    st.sampled_from(
        [
            "",
            " ",
            " Failed password for root from 192.0.2.1 port 22 ssh2",
            " pam_unix(sshd:auth): authentication failure; rhost=192.0.2.9 user=bob",
            "x SRC=192.0.2.1 DST=10.0.0.1 PROTO=TCP SPT=1 DPT=2",
            " <4.3> sshd[1]: x",
        ]
    ),
)


@settings(max_examples=300)
@given(st.lists(LINE, min_size=1, max_size=5))
def test_syslog_fast_path_equals_general(lines: list[str]) -> None:
    # two parsers fed the same lines (sshd remembers clients per host and pid)
    fast = SyslogParser(TimeParser("UTC", reference=REFERENCE))
    general = SyslogParser(TimeParser("UTC", reference=REFERENCE))
    for line in lines:
        try:
            want = orjson.dumps(general.general(line))
        except ValueError as e:
            want = repr(e).encode()
        try:
            got = orjson.dumps(fast(line))
        except ValueError as e:
            got = repr(e).encode()
        assert got == want, line


SSHD_WORDS = sorted({w for ws in apps.SSHD_FIRST_WORDS if ws for w in ws} | {"x", "pam_unix"})
SSHD_TAILS = [
    "password for root from 192.0.2.1 port 22 ssh2",
    "invalid user bob from 192.0.2.1 port 22",
    "user bob from 192.0.2.1",
    "PAM: Authentication failure for bob from host.example",
    "Authentication failure for bob from 192.0.2.1",
    "closed by 192.0.2.1 port 22 [preauth]",
    "from 192.0.2.1 port 22 on 10.0.0.1 port 22",
    "disconnect from 192.0.2.1 port 22:11: Bye Bye [preauth]",
    "exchange: Connection from 192.0.2.1 port 22: invalid format",
    "before authentication for 192.0.2.1 port 22",
    "to negotiate with 192.0.2.1 port 22: no matching key",
    "refused connect from host (192.0.2.1)",
    "LOGIN REFUSED FROM 192.0.2.1",
    "authentication attempts exceeded for root from 192.0.2.1 port 22 ssh2",
    "192.0.2.1 maps to x.example, but this does not map back to the address",
]


@given(
    st.sampled_from(SSHD_WORDS),
    st.sampled_from(["", "error: ", "fatal: "]),
    st.sampled_from(SSHD_TAILS),
    st.sampled_from([" ", "", "  "]),
)
def test_sshd_rule_index_equals_all_rules(word: str, lead: str, tail: str, sep: str) -> None:
    msg = f"{lead}{word}{sep}{tail}"
    first = next((r for r in apps.SSHD_RULES if r[0].search(msg)), None)
    sp = msg.find(" ")
    rules = apps._SSHD_BY_WORD.get(msg[:sp] if sp >= 0 else msg, apps._SSHD_ANY_WORD)
    assert next((r for r in rules if r[0].search(msg)), None) is first
