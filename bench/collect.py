"""Collector benchmark: parse-only rate per format (single core) and end-to-end rate into
Elasticsearch against a raw bulk of the same documents, in one run.

    .venv/bin/python bench/collect.py [--quick] [--es URL]

Targets (issue 3): >= 50,000 lines/s per core for syslog and access logs, >= 30,000 records/s
for EVTX, end-to-end >= 0.8 of the raw bulk rate. The raw bulk baseline sends the same
documents, parsed beforehand, with the Elasticsearch client's ``helpers.parallel_bulk`` alone
(none of socmon's storage code), with the writer's thread count and batch size. Prints the
figures (medians of repeats) and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socmon.collectors.enrich import Enricher
from socmon.collectors.lines import LineHandler
from socmon.collectors.parsers.registry import make
from socmon.collectors.timeparse import TimeParser
from socmon.pipeline import Ack, Event
from socmon.settings import PROJECT_ROOT
from socmon.settings.collectors import CollectorSettings

DATASETS = Path(os.environ.get("SOCMON_DATASETS", PROJECT_ROOT.parent / "shared" / "datasets"))


class NullSink:
    def __init__(self) -> None:
        self.n = 0

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.n += 1


def syslog_lines(n: int) -> list[bytes]:
    rnd = random.Random(1)
    tpl = [
        "Jan {d:2d} {h:02d}:{m:02d}:{s:02d} web{k} sshd[{p}]: Failed password for invalid user "
        "u{k} from 203.0.113.{k} port {port} ssh2",
        "Jan {d:2d} {h:02d}:{m:02d}:{s:02d} web{k} sshd[{p}]: Accepted publickey for deploy from "
        "198.51.100.{k} port {port} ssh2: RSA SHA256:abc",
        "Jan {d:2d} {h:02d}:{m:02d}:{s:02d} web{k} CRON[{p}]: (root) CMD "
        "(run-parts /etc/cron.hourly)",
        "<4>Jan {d:2d} {h:02d}:{m:02d}:{s:02d} fw{k} kernel: [UFW BLOCK] IN=eth0 OUT= "
        "SRC=192.0.2.{k} DST=10.0.0.1 LEN=60 PROTO=TCP SPT={port} DPT=22",
        "<165>1 2026-01-{d:02d}T{h:02d}:{m:02d}:{s:02d}.123Z app{k} api {p} - - request done",
        "Jan {d:2d} {h:02d}:{m:02d}:{s:02d} db{k} sudo:   alice : TTY=pts/0 ; PWD=/home ; "
        "USER=root ; COMMAND=/usr/bin/systemctl restart x",
    ]
    out = []
    for i in range(n):
        t = tpl[i % len(tpl)]
        out.append(
            t.format(
                d=1 + i // 86400 % 28,
                h=i // 3600 % 24,
                m=i // 60 % 60,
                s=i % 60,
                k=rnd.randint(1, 254),
                p=rnd.randint(100, 60000),
                port=rnd.randint(1024, 65535),
            ).encode()
        )
    return out


def access_lines(n: int) -> list[bytes]:
    rnd = random.Random(2)
    paths = ["/", "/index.php", "/api/v1/items?id=42&x=1", "/wp-login.php", "/static/app.js"]
    out = []
    for i in range(n):
        out.append(
            (
                f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)} - - "
                f"[10/Oct/2025:{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} +0700] "
                f'"GET {paths[i % 5]} HTTP/1.1" {rnd.choice([200, 200, 304, 404, 500])} '
                f'{rnd.randint(100, 90000)} "-" "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"'
            ).encode()
        )
    return out


def median_rate(fn: Any, n: int, repeats: int) -> float:
    """Items per second of CPU time of this process (one core; robust to a busy machine)."""
    rates = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        rates.append(n / max(time.process_time() - t0, 1e-9))
    return statistics.median(rates)


def parse_only(fmt: str, lines: list[bytes], repeats: int) -> tuple[float, float]:
    """(parser alone, full handler: decode + parse + enrich + id) in lines/s."""
    cs = CollectorSettings()
    texts = [ln.decode() for ln in lines]

    def parser_only() -> None:
        p = make(fmt, TimeParser())
        for t in texts:
            p(t)

    def handler() -> None:
        h = LineHandler(fmt, cs, Enricher(cs), NullSink(), source_kind="bench", source=fmt)
        for i, ln in enumerate(lines):
            h.handle(ln, "bench", i)

    return median_rate(parser_only, len(lines), repeats), median_rate(handler, len(lines), repeats)


def _evtx_tailer(files: list[Path], tmp: Path) -> tuple[Any, NullSink]:
    from socmon.collectors.sources.evtx_files import EvtxTailer
    from socmon.settings.collectors import EvtxSource

    cs = CollectorSettings()
    sink = NullSink()
    src = EvtxSource(paths=[str(f) for f in files[:1]])
    return EvtxTailer(src, cs, sink, Enricher(cs), tmp, "bench"), sink


def evtx_rate(files: list[Path], repeats: int) -> dict[str, float]:
    """EVTX records/s of the collector's EVTX source (``EvtxTailer``: per file its handler,
    ``read_evtx``, the checkpoint bookkeeping; the directory scan is timed apart) against the
    ``evtx`` package + ``orjson.loads`` alone on the same files, in the same run (alternating,
    medians): the ratio is the honest figure on a shared machine."""
    import tempfile

    import evtx
    import orjson

    with tempfile.TemporaryDirectory() as tmp:
        tailer, sink = _evtx_tailer(files, Path(tmp))
        names = [str(f) for f in files]

        def run() -> None:
            tailer.state.clear()  # read every record again, as on a first poll
            for f in names:
                tailer._read(f)

        def package_only() -> None:
            for f in names:
                for r in evtx.PyEvtxParser(f).records_json():
                    orjson.loads(r["data"])

        run()  # warm up + count
        n = sink.n
        ours, pkg = [], []
        for _ in range(repeats):
            ours.append(median_rate(run, n, 1))
            pkg.append(median_rate(package_only, n, 1))
    r, raw = statistics.median(ours), statistics.median(pkg)
    return {"records_per_s": r, "package_records_per_s": raw, "ratio": r / raw, "records": n}


def evtx_discovery_us(pattern: str, files: int, repeats: int) -> float:
    """CPU microseconds per file of one poll's directory scan (glob + stat of every file)."""
    import glob

    def scan() -> None:
        for p in sorted(glob.glob(pattern, recursive=True)):
            os.stat(p)

    return 1e6 / median_rate(scan, files, repeats)


def regression_evtx(limit: int | None) -> list[Path]:
    files = sorted((DATASETS / "sigmahq" / "regression_data").rglob("*.evtx"))
    return files[:limit] if limit else files


def evtx_in_memory_rate(repeats: int, limit: int | None, target: int) -> tuple[float, int]:
    """Records/s of socmon's per-record EVTX work (orjson + Windows->ECS mapping + enrich + id
    + emit), on the records of every regression file read once by the ``evtx`` package and
    repeated in memory up to ``target`` records: the figure without the corpus' per-file cost
    (its 202 files hold ~1 record each, so opening files dominates the figure above)."""
    import evtx

    from socmon.collectors.parsers.windows import WindowsRecordParser

    files = regression_evtx(limit)
    one = [
        (r["event_record_id"], r["data"])
        for f in files
        for r in evtx.PyEvtxParser(str(f)).records_json()
    ]
    recs = (one * (target // max(len(one), 1) + 1))[:target]
    cs = CollectorSettings()
    import orjson

    def run() -> None:
        h = LineHandler("winjson", cs, Enricher(cs), NullSink(), source_kind="bench", source="evtx")
        win = WindowsRecordParser(h.tp)
        for rid, data in recs:
            ev = win.from_record(orjson.loads(data), data)
            wl = ev["winlog"]
            h.emit_event(ev, f"evtx:{wl.get('computer_name', '')}:{wl['channel']}", rid, path="m")

    return median_rate(run, len(recs), repeats), len(recs)


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all processes; /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return float("nan")
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _es_cpu_reader(client: Any) -> Any:
    """A function giving the CPU seconds of the Elasticsearch node's process (user + system,
    from /proc: the node runs on this machine), or NaN when that cannot be read."""
    try:
        nodes = client.nodes.info(node_id="_local", metric="process")["nodes"]
        pid = int(next(iter(nodes.values()))["process"]["id"])
        open(f"/proc/{pid}/stat").close()
    except Exception:
        return lambda: float("nan")

    def read() -> float:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return read


class CountMismatch(Exception):
    """Documents lost or duplicated in a mode: the bench fails (never reported as skipped)."""


def raw_bulk(client: Any, storage: Any, actions: list[dict[str, Any]]) -> int:
    """The baseline's bulk path: the client's ``helpers.parallel_bulk`` with socmon's
    resources (as many threads as ``storage.senders``, the same batch size, request size
    limit and queued batches); returns the documents created."""
    from elasticsearch import helpers

    created = 0
    for ok, info in helpers.parallel_bulk(
        client,
        actions,
        thread_count=storage.senders,
        chunk_size=storage.batch_size,
        max_chunk_bytes=storage.batch_bytes,
        queue_size=storage.max_pending_batches,
        raise_on_error=False,
    ):
        if not ok:
            raise CountMismatch(f"raw bulk: a document was refused: {info}")
        created += 1
    return created


def e2e(es_url: str, lines: list[bytes], repeats: int) -> dict[str, float]:
    """Collector -> StorageSink -> BulkWriter -> ES against a raw bulk of the same (already
    built) documents sent with the client's own ``helpers.parallel_bulk`` (no socmon code on
    that path; same thread count, batch size and op type ``create``, same daily indices).

    The two modes alternate (raw first in even rounds, e2e first in odd ones) so that neither
    always runs on the heels of the other's background merges; medians over the rounds. Each
    round checks that every line became exactly one stored document. The CPU accounting (this
    process, the Elasticsearch node's process, and the whole machine from /proc) shows
    whether the machine's cores, not the collector, bound the end-to-end rate, and what each
    mode costs per document wherever it runs."""
    from socmon.bulk import BulkWriter
    from socmon.es import make_client
    from socmon.indices import IndexNames, apply_templates, events_index_for
    from socmon.settings import load_settings
    from socmon.storage_sink import StorageSink

    settings = load_settings(es={"url": es_url})
    client = make_client(settings.es)
    cs = CollectorSettings()
    rates: dict[str, list[float]] = {"raw": [], "e2e": []}
    cpu: dict[str, list[tuple[float, float, float, float]]] = {"raw": [], "e2e": []}
    es_cpu = _es_cpu_reader(client)
    for k in range(repeats):
        for mode in ("raw", "e2e") if k % 2 == 0 else ("e2e", "raw"):
            names = IndexNames(f"socmon-bench-{uuid.uuid4().hex[:8]}")
            apply_templates(client, names)
            if mode == "raw":
                # the same documents, parsed beforehand: only the bulk path is timed
                pre = NullSinkKeep()
                h = LineHandler("syslog", cs, Enricher(cs), pre, source_kind="bench", source="r")
                for i, ln in enumerate(lines):
                    h.handle(ln, "bench", i)
                actions = [
                    {
                        "_op_type": "create",
                        "_index": events_index_for(names, ev.get("@timestamp")),
                        "_id": did,
                        "_source": ev,
                    }
                    for did, ev in pre.events
                ]
                pre.events.clear()
            own0, box0, es0 = sum(os.times()[:2]), _busy_cpu_s(), es_cpu()
            t0 = time.perf_counter()
            if mode == "raw":
                created = raw_bulk(client, settings.storage, actions)
                actions.clear()  # not kept alive into the next mode
            else:
                spool = Path("/tmp") / f"socmon-bench-spool-{uuid.uuid4().hex[:8]}"
                w = BulkWriter(client, settings.storage, names, spool_dir=spool)
                w.start()
                h = LineHandler(
                    "syslog",
                    cs,
                    Enricher(cs),
                    StorageSink(w, names),
                    source_kind="bench",
                    source="e",
                )
                for i, ln in enumerate(lines):
                    h.handle(ln, "bench", i)
                w.flush(300)
            wall = time.perf_counter() - t0
            if mode == "e2e":
                w.close()
                created = w.counts["created"]
            if created != len(lines):
                raise CountMismatch(f"{mode}: {created} documents created of {len(lines)}")
            rates[mode].append(len(lines) / wall)
            cpu[mode].append(
                (wall, sum(os.times()[:2]) - own0, _busy_cpu_s() - box0, es_cpu() - es0)
            )
            client.indices.delete(index=f"{names.prefix}-*", ignore_unavailable=True)
            for t in client.indices.get_index_template(name=f"{names.prefix}-*").get(
                "index_templates", []
            ):
                client.indices.delete_index_template(name=t["name"])
    raw, e = statistics.median(rates["raw"]), statistics.median(rates["e2e"])
    out = {
        "raw_bulk_docs_per_s": raw,
        "raw_bulk_threads": settings.storage.senders,
        "e2e_docs_per_s": e,
        "e2e_ratio": e / raw,
        "e2e_ratio_pairs_median": statistics.median(
            a / b for a, b in zip(rates["e2e"], rates["raw"], strict=True)
        ),
    }
    ncpu = os.cpu_count() or 1
    for mode in ("raw", "e2e"):
        wall, own, box, es = (statistics.median(c[i] for c in cpu[mode]) for i in range(4))
        out[f"{mode}_wall_s"] = wall
        out[f"{mode}_collector_cpu_s"] = own
        out[f"{mode}_es_cpu_s"] = es
        out[f"{mode}_machine_busy"] = box / (wall * ncpu)
        out[f"{mode}_cpu_us_per_doc"] = (own + es) * 1e6 / len(lines)
    # the ratio the CPU costs alone give (both modes CPU-bound on the same cores, nothing
    # else running): an explanation of the measured ratio, not a replacement for it
    out["e2e_ratio_from_cpu"] = out["raw_cpu_us_per_doc"] / out["e2e_cpu_us_per_doc"]
    return out


def evtx_figures(quick: bool, repeats: int) -> dict[str, Any]:
    import tempfile

    from bench.evtx_synth import build_multi_chunk

    out: dict[str, Any] = {}
    files = regression_evtx(20 if quick else None)
    reps = max(repeats, 5)  # the whole corpus takes ~10 ms: more rounds for a stable median
    t = evtx_rate(files, reps)
    out["evtx_records_per_s"] = round(t["records_per_s"])
    out["evtx_package_only_records_per_s"] = round(t["package_records_per_s"])
    out["evtx_ratio_to_package"] = round(t["ratio"], 3)
    out["evtx_records"] = t["records"]
    out["evtx_files"] = len(files)
    print(
        f"evtx    {t['records_per_s']:>10,.0f} records/s over the {t['records']} records of "
        f"{len(files)} one-chunk files (sigmahq regression samples, ~1 record a file); the evtx "
        f"package + orjson alone {t['package_records_per_s']:,.0f} records/s (ratio "
        f"{t['ratio']:.2f})"
    )
    pattern = str(DATASETS / "sigmahq" / "regression_data" / "**" / "*.evtx")
    disc = evtx_discovery_us(pattern, len(regression_evtx(None)), repeats)
    out["evtx_discovery_us_per_file"] = round(disc, 1)
    print(
        f"        directory scan of a poll (recursive glob + stat, apart from the rate above): "
        f"{disc:.1f} us a file on this tree"
    )
    with tempfile.TemporaryDirectory() as tmp:
        multi = Path(tmp) / "multi.evtx"
        n, layout = build_multi_chunk(files, multi)
        m = evtx_rate([multi], repeats)
    out["evtx_multi_records_per_s"] = round(m["records_per_s"])
    out["evtx_multi_package_only_records_per_s"] = round(m["package_records_per_s"])
    out["evtx_multi_ratio_to_package"] = round(m["ratio"], 3)
    out["evtx_multi_records"] = n
    print(
        f"evtx    {m['records_per_s']:>10,.0f} records/s over one multi-record file ({n} "
        f"records in {len(layout)} full chunks: each corpus chunk followed by copies of its "
        f"records, bench/evtx_synth.py); the evtx package + orjson alone "
        f"{m['package_records_per_s']:,.0f} records/s (ratio {m['ratio']:.2f})"
    )
    mem, mcnt = evtx_in_memory_rate(repeats, 20 if quick else None, 2_000 if quick else 50_000)
    out["evtx_in_memory_mapping_records_per_s"] = round(mem)
    out["evtx_in_memory_records"] = mcnt
    print(
        f"evtx    {mem:>10,.0f} records/s: socmon's per-record work only (JSON -> ECS, "
        f"enrich, id) on {mcnt} in-memory records (the corpus' records repeated; no file "
        f"opening, no evtx package decoding)"
    )
    tiny_ok = t["records_per_s"] >= 30_000
    multi_ok = m["records_per_s"] >= 30_000
    out["evtx_target_met_one_record_files"] = tiny_ok
    out["evtx_target_met_multi_record_file"] = multi_ok
    print(
        f"EVTX target 30,000 records/s: {'MET' if multi_ok else 'NOT MET'} on the "
        f"multi-record file ({m['records_per_s']:,.0f}); {'MET' if tiny_ok else 'NOT MET'} "
        f"on the one-record files ({t['records_per_s']:,.0f}), where the evtx package alone "
        f"reads {t['package_records_per_s']:,.0f}"
    )
    return out


class NullSinkKeep:
    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []

    def emit(self, doc_id: str, event: Event, ack: Ack | None = None) -> None:
        self.events.append((doc_id, event))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small inputs, one repeat (smoke test)")
    ap.add_argument(
        "--es",
        default=os.environ.get("SOCMON_TEST_ES_URL", "http://127.0.0.1:9250"),
        help="Elasticsearch URL for the end-to-end part ('' to skip)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="end-to-end rounds (each: raw and e2e, the order alternating; default 6)",
    )
    args = ap.parse_args()
    n = 2_000 if args.quick else 60_000
    repeats = 1 if args.quick else 3
    out: dict[str, Any] = {"lines": n, "repeats": repeats}
    print(f"os.cpu_count() {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    for fmt, lines in (("syslog", syslog_lines(n)), ("nginx", access_lines(n))):
        p, h = parse_only(fmt, lines, repeats)
        out[f"{fmt}_parser_lines_per_s"] = round(p)
        out[f"{fmt}_handler_lines_per_s"] = round(h)
        print(
            f"{fmt:7s} parser only {p:>10,.0f} lines/s   decode+parse+enrich+id {h:>10,.0f} "
            f"lines/s   (target 50,000)"
        )
    if (DATASETS / "sigmahq").is_dir():
        out.update(evtx_figures(args.quick, repeats))
    if args.es:
        try:
            res = e2e(args.es, syslog_lines(n), args.rounds or (1 if args.quick else 6))
        except CountMismatch:
            raise
        except Exception as e:  # ES down: say so, still print the parse figures
            print(f"end-to-end skipped: {e}")
        else:
            out.update({k: round(v, 3) for k, v in res.items()})
            print(
                f"e2e     {res['e2e_docs_per_s']:>10,.0f} docs/s   raw bulk of the same docs "
                f"(the client's helpers.parallel_bulk, {res['raw_bulk_threads']:.0f} threads) "
                f"{res['raw_bulk_docs_per_s']:>10,.0f} docs/s   ratio {res['e2e_ratio']:.2f} "
                f"(median of the per-round ratios {res['e2e_ratio_pairs_median']:.2f}; "
                f"target 0.8)"
            )
            for mode in ("raw", "e2e"):
                print(
                    f"        {mode}: {res[f'{mode}_wall_s']:.2f} s wall, this process "
                    f"{res[f'{mode}_collector_cpu_s']:.2f} CPU s, Elasticsearch "
                    f"{res[f'{mode}_es_cpu_s']:.2f} CPU s ({res[f'{mode}_cpu_us_per_doc']:.1f} "
                    f"CPU us a document together), the machine's {os.cpu_count()} cores "
                    f"{res[f'{mode}_machine_busy']:.0%} busy"
                )
            met = [res["e2e_ratio"] >= 0.8, res["e2e_ratio_pairs_median"] >= 0.8]
            out["e2e_target_met"] = all(met)
            verdict = "MET" if all(met) else "NOT MET" if not any(met) else "MET ON ONE FIGURE"
            print(
                f"E2E target 0.8 of the raw bulk rate: {verdict} (ratio of the median rates "
                f"{res['e2e_ratio']:.2f}, median of the per-round ratios "
                f"{res['e2e_ratio_pairs_median']:.2f}; from the CPU costs alone "
                f"{res['e2e_ratio_from_cpu']:.2f})"
            )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
