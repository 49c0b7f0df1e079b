"""The literal prefilter: which of many literal strings occur in a text.

The engine (``rules.engine._Plan``) scans one text per group of fields; the anchors "a value
of this field contains (ends with) a literal" become plain literals of their field's group.

An RE2 set of literal patterns (one DFA pass, the set of matching pattern ids computed in C)
is ~4x faster than pyahocorasick on the engine's prefilter texts (6.5 vs 24 us on the
regression events, all Windows anchors). RE2's set matcher has no NFA fallback: when its DFA
runs out of memory it reports no match at all. A sentinel pattern that occurs in every
non-empty prefilter text (``SEP_END``) detects that, and the text is then scanned with
pyahocorasick (built on first use), so a failure costs time, never a missed rule.

A case-folding scanner finds the lower-cased words in a text as it is (no ``str.lower()``
copy per event): RE2's case folding matches every character whose ``lower()`` is the word's
character (checked over all code points), and more (a superset: the rules decide). The one
exception, U+0130 (lower-cased to two characters), is a pattern of the set too: a text
holding it is scanned again lower-cased.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ahocorasick
import re2

from socmon.rules.eventview import SEP_END

_MAX_MEM = 256 << 20  # RE2's budget for the program and the lazily built DFA states


class LiteralScanner:
    """``hits(text)``: the ids (positions in ``words``) of the words occurring in ``text``,
    plus ids >= ``len(words)`` that stand for no word (the sentinel, U+0130); ``text`` is a
    prefilter text (ends with ``SEP_END`` unless empty)."""

    __slots__ = ("_aho", "_dotted", "_match", "_sentinel", "fallbacks", "folded", "words")

    def __init__(self, words: Sequence[str], fold_case: bool = False) -> None:
        """``fold_case``: find the (lower-cased) words in any case (RE2's case folding); the
        fallback scan then runs on the lower-cased text."""
        self.words = list(words)
        self.folded = fold_case
        self._aho: Any = None
        self._match: Any = None
        self._sentinel = len(self.words)
        self._dotted = self._sentinel + 1 if fold_case else -1  # U+0130 found: rescan lowered
        self.fallbacks = 0
        opts = re2.Options()
        opts.literal = True
        opts.case_sensitive = not fold_case
        opts.log_errors = False
        opts.max_mem = _MAX_MEM
        try:
            s = re2.Set.SearchSet(opts)
            for w in self.words:
                s.Add(w)
            s.Add(SEP_END)
            if fold_case:
                s.Add("\u0130")
            s.Compile()
            self._match = s._set.Match  # the C++ set: bytes in, list of ids out
        except Exception:  # re2.error (too large for the budget), another binding layout
            self._match = None

    def hits(self, text: str) -> list[int]:
        if self._match is not None and text:
            found: list[int] = self._match(text.encode())
            if found and self._sentinel in found:
                if self._dotted in found:  # lower-cases to two characters: RE2 does not fold it
                    return self.hits(text.lower())
                return found  # the sentinel id has no rules
            self.fallbacks += 1
        return self._aho_hits(text)

    def _aho_hits(self, text: str) -> list[int]:
        if self._aho is None:
            auto = ahocorasick.Automaton()
            for i, w in enumerate(self.words):
                auto.add_word(w, i)
            if self.words:
                auto.make_automaton()
            self._aho = auto
        if not self.words:
            return []
        return list({v for _, v in self._aho.iter(text.lower() if self.folded else text)})
