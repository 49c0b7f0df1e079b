"""Micro-benchmark of the literal prefilter's scanners: RE2 set vs Hyperscan (issue 5).

The texts are the real prefilter texts of the SigmaHQ regression events (every text the
streaming engine's ``LiteralScanner``s scan, SigmaHQ Windows rules as in bench/sigma_engine.py,
one pass over the 238 events), each with the scanner (word set) that scans it. Timed per
event, variants alternating: the RE2 set (``LiteralScanner.hits``, as the engine runs it);
Hyperscan 0.9.1 (PyPI ``hyperscan``, literal databases, HS_FLAG_CASELESS|HS_FLAG_SINGLEMATCH,
ids collected by a Python match callback) on every text (exact on ASCII texts only), the same
with a no-op callback (the binding's floor), "hybrid" (non-ASCII texts to RE2), "exact"
(Hyperscan gives RE2's hits id for id: see ``hs_exact``), and "mixed" (exact Hyperscan for
scanners of at most SMALL words, RE2 for the others). Hit sets are asserted equal to RE2's.

Measured 2026-11-24 23:24-23:25 UTC (load ~0.7-1.2, after the CI rehearsal's tests): 3.76
texts and 2,267 bytes per event, 223 of 896 texts non-ASCII (mostly "®" in product names),
18.7 Hyperscan hits per event on ASCII texts. us per event: RE2 10.8-11.2; Hyperscan 8.9-9.2
(no-op callback 7.8-7.9); hybrid 10.7-11.1; exact 10.1-10.6; mixed 9.3-9.5. Saving at best
~1.5-1.9 us per event (the 20-21 keyword scanners over ~1,900-byte texts without hits: 2.5
-> 1.35 us), against the >= ~4 us an integration needed: the binding costs ~0.135 us per hit
whatever the callback does (a no-op callback too), and the caseless 7,774-literal
command-line set (16.8 hits per 103-byte text) costs 2.6 us per event against RE2's 1.1.
Not integrated.

Run: ``.venv/bin/python bench/prefilter_scanners.py [--repeats R] [--loops L]``; one core.
Needs ``hyperscan`` (not a dependency of socmon). Prints figures and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SMALL = 1500  # "mixed": Hyperscan for the scanners of at most this many words
CONFUSABLE = [
    c
    for c in map(chr, range(128, sys.maxunicode + 1))
    if any(y.isascii() for y in c.lower() + c.upper() + c.casefold())
]
# the characters with case variants (what RE2's folding may match differently)
CASED = {
    y
    for c in map(chr, range(sys.maxunicode + 1))
    if c.lower() != c or c.upper() != c or c.casefold() != c
    for y in c + c.lower() + c.upper() + c.casefold()
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--loops", type=int, default=20, help="passes over the texts per repeat")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    try:
        import hyperscan
    except ImportError:
        print("hyperscan is not installed (pip install hyperscan)", file=sys.stderr)
        sys.exit(2)

    from bench.sigma_engine import CORPUS, datasets, sample_events
    from socmon.rules.engine import StreamingEngine
    from socmon.rules.loader import load_rules
    from socmon.rules.prefilter import LiteralScanner

    sigmahq = datasets() / "sigmahq"
    dirs = [sigmahq / d for d in CORPUS]
    loaded = load_rules(dirs)
    win = [r for r in loaded.rules if r.logsource.product == "windows"]
    engine = StreamingEngine.from_rules(win)
    events = sample_events(sigmahq)
    for ev in events:  # build every plan (and its scanners) first
        engine.match_rules(ev)

    captured: list[tuple[LiteralScanner, str]] = []
    orig = LiteralScanner.hits

    def spy(self: LiteralScanner, text: str) -> list[int]:
        captured.append((self, text))
        return orig(self, text)

    LiteralScanner.hits = spy  # type: ignore[method-assign]
    for ev in events:
        engine.match_rules(ev)
    LiteralScanner.hits = orig  # type: ignore[method-assign]
    n_ev = len(events)

    # Hyperscan databases, one per scanner
    flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
    dbs: dict[int, Any] = {}

    def literal_db(words: list[str]) -> Any:
        """A block-mode database of ``words`` as caseless literals, ids = positions."""
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        pats = [w.encode() for w in words]
        db.compile(
            expressions=pats,
            ids=list(range(len(pats))),
            elements=len(pats),
            flags=flags,
            literal=True,
        )
        return db

    t0 = time.perf_counter()
    for sc, _ in captured:
        if id(sc) not in dbs:
            dbs[id(sc)] = literal_db(sc.words)
    compile_s = time.perf_counter() - t0
    sizes = sorted(len(sc.words) for sc in {id(s): s for s, _ in captured}.values())

    def on_hit(i: int, a: int, b: int, f: int, ctx: list[int]) -> None:
        ctx.append(i)

    def on_hit_call(i: int, a: int, b: int, f: int, ctx: Any) -> None:
        ctx(i)  # context: the list's bound append

    def hs_hits(db: Any, text: str) -> list[int]:
        out: list[int] = []
        db.scan(text.encode(), match_event_handler=on_hit, context=out)
        return out

    # correctness: the same word hits on ASCII texts
    ascii_items = [(sc, t) for sc, t in captured if t.isascii()]
    hit_counts = []
    for sc, t in ascii_items:
        want = {i for i in sc.hits(t) if i < len(sc.words)}
        got = hs_hits(dbs[id(sc)], t)
        assert len(got) == len(set(got)), "single match"
        assert set(got) == want, (t, sorted(want ^ set(got)))
        hit_counts.append(len(got))
    n_nonascii = len(captured) - len(ascii_items)

    re2_items = [(sc.hits, t) for sc, t in captured]
    hs_items = [(dbs[id(sc)], t) for sc, t in captured]
    hybrid = [(dbs[id(sc)], sc.hits, t) for sc, t in captured]

    def run_re2() -> None:
        for h, t in re2_items:
            h(t)

    def run_hs() -> None:  # every text with Hyperscan (timing only; non-ASCII not exact)
        for db, t in hs_items:
            out: list[int] = []
            db.scan(t.encode(), match_event_handler=on_hit, context=out)

    def on_hit_noop(i: int, a: int, b: int, f: int, ctx: Any) -> None:
        pass

    def run_hs_noop() -> None:  # the binding's floor: a callback that does nothing
        for db, t in hs_items:
            db.scan(t.encode(), match_event_handler=on_hit_noop)

    def run_hybrid() -> None:  # ASCII texts Hyperscan, the others RE2
        for db, h, t in hybrid:
            if t.isascii():
                out: list[int] = []
                db.scan(t.encode(), match_event_handler=on_hit, context=out)
            else:
                h(t)

    # Exact (the RE2 set's hits, id for id) without lower-casing: Hyperscan's caseless is
    # RE2's case folding on ASCII texts; on other texts too when the scanner's words hold no
    # non-ASCII character with case variants, unless the text holds one of CONFUSABLE (the
    # non-ASCII characters with an ASCII lower/upper/casefold form: U+0130, U+017F, U+212A,
    # ß, ligatures): extra patterns of the database, ids >= len(words), send the text to RE2.
    # Texts of scanners with cased non-ASCII words, if not ASCII, go to RE2 as well.
    ext: dict[int, Any] = {}  # id(scanner) -> (db, n words, simple)
    for sc, _ in captured:
        if id(sc) in ext:
            continue
        db = literal_db([*sc.words, *CONFUSABLE])
        simple = not any(c in CASED for w in sc.words for c in w if not c.isascii())
        ext[id(sc)] = (db, len(sc.words), simple)

    def hs_exact(sc: LiteralScanner, t: str) -> list[int]:
        db, n, simple = ext[id(sc)]
        if t.isascii():
            out: list[int] = []
            db.scan(t.encode(), match_event_handler=on_hit_call, context=out.append)
            return out
        if simple:
            out = []
            db.scan(t.encode(), match_event_handler=on_hit_call, context=out.append)
            if not out or max(out) < n:
                return out
        return sc.hits(t)

    to_re2 = 0
    for sc, t in captured:
        want = {i for i in sc.hits(t) if i < len(sc.words)}
        got = hs_exact(sc, t)
        assert len(got) == len(set(got))
        assert {i for i in got if i < len(sc.words)} == want, (t, sorted(want ^ set(got)))
        simple = ext[id(sc)][2]
        to_re2 += not t.isascii() and not simple
    plan_all = [(sc, t) for sc, t in captured]
    plan_mixed = [(sc, t, len(sc.words) <= SMALL) for sc, t in captured]

    def run_hs_exact() -> None:
        for sc, t in plan_all:
            hs_exact(sc, t)

    def run_mixed() -> None:
        for sc, t, use in plan_mixed:
            if use:
                hs_exact(sc, t)
            else:
                sc.hits(t)

    def run_encode() -> None:  # the shared cost: str -> bytes
        for _, t in re2_items:
            t.encode()

    fns = {
        "re2": run_re2,
        "hs": run_hs,
        "hs_noop": run_hs_noop,
        "hybrid": run_hybrid,
        "hs_exact": run_hs_exact,
        "mixed": run_mixed,
        "encode": run_encode,
    }
    res: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():  # alternating
            t0 = time.perf_counter()
            for _ in range(args.loops):
                fn()
            res[name].append((time.perf_counter() - t0) / args.loops / n_ev * 1e6)
    med = {k: statistics.median(v) for k, v in res.items()}
    nbytes = sum(len(t.encode()) for _, t in captured)
    hc = Counter(hit_counts)
    print(
        f"events {n_ev}, texts {len(captured)} ({len(captured) / n_ev:.2f}/event, "
        f"{nbytes / n_ev:.0f} bytes/event), non-ASCII texts {n_nonascii}; scanners "
        f"{len(sizes)} ({sizes[0]}-{sizes[-1]} words); Hyperscan compile {compile_s:.2f} s"
    )
    print(
        f"hits per ASCII text: mean {statistics.mean(hit_counts):.2f}, max {max(hit_counts)}, "
        f"per event {sum(hit_counts) / n_ev:.2f}; distribution {sorted(hc.items())[:12]}"
    )
    print(
        f"us per event (median of {args.repeats}): RE2 {med['re2']:.2f}, Hyperscan "
        f"{med['hs']:.2f} (not exact on non-ASCII texts; with a no-op callback "
        f"{med['hs_noop']:.2f}), hybrid (non-ASCII texts to RE2) "
        f"{med['hybrid']:.2f}, exact Hyperscan ({to_re2} non-ASCII texts of cased scanners "
        f"to RE2) {med['hs_exact']:.2f}, exact Hyperscan for scanners of <= {SMALL} words "
        f"only {med['mixed']:.2f}; encode alone {med['encode']:.2f}"
    )
    print(
        f"saving vs RE2: hybrid {med['re2'] - med['hybrid']:.2f}, exact "
        f"{med['re2'] - med['hs_exact']:.2f}, mixed {med['re2'] - med['mixed']:.2f} us/event"
    )
    # per scanner: us per event, RE2 vs exact Hyperscan
    by_sc: dict[int, list[Any]] = {}
    for sc, t in captured:
        by_sc.setdefault(id(sc), [sc, []])[1].append(t)
    rows = []
    for sc, texts in by_sc.values():
        tr, th = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(args.loops):
                for t in texts:
                    sc.hits(t)
            tr.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for _ in range(args.loops):
                for t in texts:
                    hs_exact(sc, t)
            th.append(time.perf_counter() - t0)
        k = 1e6 / args.loops / n_ev
        nb = sum(len(t) for t in texts) / len(texts)
        hits = sum(len(hs_exact(sc, t)) for t in texts) / len(texts)
        rows.append((min(tr) * k, min(th) * k, len(sc.words), len(texts), nb, hits))
    print("per scanner (words, texts, chars/text, hits/text): RE2 vs Hyperscan us/event")
    for r, h, nw, nt, nb, hits in sorted(rows, reverse=True)[:10]:
        print(f"  {nw:5d} {nt:4d} {nb:6.0f} {hits:5.1f}: {r:5.2f} vs {h:5.2f}")
    print(
        json.dumps(
            {
                "bench": "prefilter_scanners",
                "events": n_ev,
                "texts": len(captured),
                "non_ascii_texts": n_nonascii,
                "bytes_per_event": round(nbytes / n_ev, 1),
                "hits_per_event": round(sum(hit_counts) / n_ev, 2),
                "re2_us_per_event": round(med["re2"], 3),
                "hyperscan_us_per_event": round(med["hs"], 3),
                "hyperscan_noop_callback_us_per_event": round(med["hs_noop"], 3),
                "hybrid_us_per_event": round(med["hybrid"], 3),
                "hs_exact_us_per_event": round(med["hs_exact"], 3),
                "mixed_us_per_event": round(med["mixed"], 3),
                "mixed_small_words": SMALL,
                "texts_to_re2": to_re2,
                "encode_us_per_event": round(med["encode"], 3),
                "saving_hybrid_us_per_event": round(med["re2"] - med["hybrid"], 3),
                "saving_exact_us_per_event": round(med["re2"] - med["hs_exact"], 3),
                "saving_mixed_us_per_event": round(med["re2"] - med["mixed"], 3),
                "repeats": args.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
