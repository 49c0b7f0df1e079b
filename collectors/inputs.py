"""The PATH arguments of ``socmon parse`` and ``socmon hunt``: files, and directories walked
recursively.

A file named on the command line is always read. In a directory, a file is read when its
extension is one socmon reads (``KNOWN_SUFFIXES``) or its first bytes are (EVTX, pcap, gzip or
zip magic; or text without NUL in which one of the first lines parses without failure in the
format it looks like, so rotated ``auth.log.1`` files are found). Other files are skipped and
listed with the reason; ``include`` globs (matched against the name and the path relative to
the directory) narrow the choice. A path that does not exist or cannot be read is an
``InputProblem``: the commands read everything else, then say what could not be read and exit
non-zero.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from socmon.collectors.event import PARSE_FAILURE
from socmon.collectors.parsers.registry import detect_line, make

KNOWN_SUFFIXES = frozenset(
    {
        ".log",
        ".txt",
        ".json",
        ".jsonl",
        ".ndjson",
        ".eve",
        ".cef",
        ".evtx",
        ".pcap",
        ".pcapng",
        ".cap",
        ".gz",
        ".zip",
    }
)
_MAGIC = (
    b"ElfFile\x00",  # EVTX
    b"\xd4\xc3\xb2\xa1",  # pcap (both byte orders, nanosecond variants), pcapng
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",
    b"\x1f\x8b",  # gzip
    b"PK\x03\x04",  # zip
)
SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class InputProblem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Inputs:
    files: list[Path] = field(default_factory=list)
    skipped: list[InputProblem] = field(default_factory=list)  # in a directory, not chosen
    unreadable: list[InputProblem] = field(default_factory=list)


def sniff(head: bytes) -> str | None:
    """Why a file with these first bytes is worth reading (None: it is not)."""
    if head.startswith(_MAGIC):
        return "magic"
    if b"\x00" in head:
        return None
    text = head.decode("utf-8", "ignore")
    lines = text.splitlines()[:-1] if len(head) >= SNIFF_BYTES else text.splitlines()
    for ln in lines[:30]:
        fmt = detect_line(ln)
        if fmt and PARSE_FAILURE not in make(fmt)(ln).get("tags", ()):
            return fmt
    return None


def _readable(path: Path) -> tuple[bytes | None, str | None]:
    try:
        with open(path, "rb") as f:
            return f.read(SNIFF_BYTES), None
    except OSError as e:
        return None, e.strerror or str(e)


def _matches(rel: str, name: str, include: Sequence[str]) -> bool:
    return not include or any(fnmatch.fnmatch(name, g) or fnmatch.fnmatch(rel, g) for g in include)


def _walk(root: Path, include: Sequence[str], out: Inputs) -> None:
    def on_error(e: OSError) -> None:
        out.unreadable.append(InputProblem(str(e.filename or root), e.strerror or str(e)))

    for d, dirs, names in os.walk(root, onerror=on_error):
        dirs.sort()
        for name in sorted(names):
            path = Path(d) / name
            if not path.is_file():
                continue
            if not _matches(str(path.relative_to(root)), name, include):
                continue
            head, err = _readable(path)
            if head is None:
                out.unreadable.append(InputProblem(str(path), f"cannot read: {err}"))
            elif path.suffix.lower() in KNOWN_SUFFIXES or sniff(head):
                out.files.append(path)
            else:
                out.skipped.append(InputProblem(str(path), "not a format socmon reads"))


def expand_inputs(paths: Iterable[str | Path], include: Sequence[str] = ()) -> Inputs:
    """Files to read for ``paths`` (in order; directories recursively, sorted by name)."""
    out = Inputs()
    for p in paths:
        path = Path(p)
        if path.is_dir():
            before = len(out.files)
            _walk(path, include, out)
            if len(out.files) == before:
                out.unreadable.append(InputProblem(str(path), "no file to read in the directory"))
        elif path.is_file():
            head, err = _readable(path)
            if head is None:
                out.unreadable.append(InputProblem(str(path), f"cannot read: {err}"))
            else:
                out.files.append(path)
        elif path.exists():
            out.unreadable.append(InputProblem(str(path), "not a file or directory"))
        else:
            out.unreadable.append(InputProblem(str(path), "no such file or directory"))
    return out
