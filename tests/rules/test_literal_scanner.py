"""rules.prefilter.LiteralScanner: case folding as a superset of ``str.lower()``."""

from __future__ import annotations

from socmon.rules.eventview import SEP_END
from socmon.rules.prefilter import LiteralScanner


def _words(s: LiteralScanner, text: str) -> set[str]:
    return {s.words[i] for i in s.hits(text) if i < len(s.words)}


def test_folding_finds_what_lower_finds() -> None:
    words = ["powershell -i", "kelvin", "σ", "sekurlsa::", "c:\\windows\\"]
    s = LiteralScanner(words, fold_case=True)
    for text in [
        "POWERSHELL -İ",  # U+0130 lower-cases to "i" + U+0307: the scanner rescans lowered
        "\u212aELVIN",  # Kelvin sign
        "ΑΣ",  # final sigma in str.lower()
        "SekurLSA::logonpasswords",
        "C:\\WINDOWS\\system32",
        "nothing here",
    ]:
        t = text + SEP_END
        expected = {w for w in words if w in t.lower()}
        assert expected <= _words(s, t), text
    assert _words(s, "POWERSHELL -İ" + SEP_END) == {"powershell -i"}


def test_fold_case_without_u0130_scans_once() -> None:
    s = LiteralScanner(["abc"], fold_case=True)
    assert _words(s, "xABCx" + SEP_END) == {"abc"}
    assert _words(s, "xyz" + SEP_END) == set()
    assert s.fallbacks == 0
