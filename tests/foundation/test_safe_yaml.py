"""socmon.safe_yaml: what PyYAML's safe_load reads, it reads the same (PyYAML is the
reference), except anchors/aliases, deep nesting and oversize text, refused with a line."""

from __future__ import annotations

import time

import pytest
import yaml

from socmon import safe_yaml
from socmon.safe_yaml import UnsafeYamlError

PLAIN = [
    "a: 1\nb: [1, 2, {c: d}]\nd: 2026-01-01\ne: yes\nf: ~\ng: 1.5\n",
    "title: t\ndetection:\n  sel:\n    x|contains:\n      - a\n      - 'b'\n  condition: sel\n",
    "",
    "- 1\n- - 2\n  - 3\n",
    'k: "quoted \\u00e9"\nm: |\n  block\n  text\n',
]


@pytest.mark.parametrize("text", PLAIN)
def test_reads_what_safe_load_reads(text):
    assert safe_yaml.load(text) == yaml.safe_load(text)


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, line, word",
    [
        (laughs(9), 1, "anchors (&a0)"),
        ("a: &x 1\n", 1, "anchors"),
        ("a: 1\nb: *x\n", 2, "aliases (*x)"),
        ("base: {k: 1}\nd:\n  <<: *base\n", 3, "aliases"),
        ("- !!str &s v\n", 1, "anchors"),
    ],
)
def test_anchors_and_aliases_refused(text, line, word):
    with pytest.raises(UnsafeYamlError) as e:
        safe_yaml.load(text)
    assert word in str(e.value)
    assert e.value.problem_mark is not None and e.value.problem_mark.line + 1 == line


@pytest.mark.parametrize(
    "text",
    [
        "x: " + "[" * 5000 + "]" * 5000 + "\n",
        "x: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n",
        "".join(" " * i + f"k{i}:\n" for i in range(3000)) + " " * 3000 + "v: 1\n",
        "x: " + "[" * 200_000,
    ],
)
def test_depth_bounded_quickly(text):
    t = time.perf_counter()
    with pytest.raises(yaml.YAMLError):
        safe_yaml.load(text, max_bytes=10**8)
    # PyYAML's pure-Python scanner took ~1.2 s for 5,000 '[' and RecursionError followed
    assert time.perf_counter() - t < 0.5


def test_depth_limit_is_exact():
    def nested(n: int) -> str:  # n mapping levels, then a scalar: n + 1 nodes deep
        return "".join(" " * i + f"k{i}:\n" for i in range(n - 1)) + " " * (n - 1) + "v: 1\n"

    assert safe_yaml.load(nested(9), max_depth=10) is not None
    with pytest.raises(UnsafeYamlError, match="deeper than 10"):
        safe_yaml.load(nested(10), max_depth=10)


def test_size_bounded():
    with pytest.raises(UnsafeYamlError, match="larger than 100 bytes"):
        safe_yaml.load("a: " + "x" * 100, max_bytes=100)


def test_single_document():
    assert safe_yaml.load_all("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]
    with pytest.raises(yaml.YAMLError):
        safe_yaml.load("a: 1\n---\nb: 2\n")


def test_clip():
    assert safe_yaml.clip("abc", 5) == "abc"
    assert safe_yaml.clip("x" * 1000, 10) == "x" * 10 + "... (990 more characters)"
