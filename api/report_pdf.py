"""Printing the report page to PDF with Debian's Chromium (``--headless --print-to-pdf``).

Chromium, not WeasyPrint: the browser tests already need Debian's ``chromium``, it renders the
report's inline SVG charts and CSS exactly as the printable page a user sees, and it adds no
Python dependency with native libraries. Without it, PDF reports are refused with a message
naming the package (and the report scheduler does not start): never a silent fallback.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from pathlib import Path

from prometheus_client import Counter

from socmon.metrics import REGISTRY

PDF_RENDERS = Counter(
    "socmon_api_report_pdfs_total",
    "Report PDFs printed with Chromium, by result.",
    ["result"],
    registry=REGISTRY,
)


# Chromium takes ~2 s and a few hundred MB per print: at most two at once, others wait.
_PRINTS = threading.BoundedSemaphore(2)


class PdfUnavailable(RuntimeError):
    """Chromium is missing or cannot print: the message says what to install or fix."""


def check_chromium(chromium: Path) -> None:
    if not (chromium.is_file() and os.access(chromium, os.X_OK)):
        raise PdfUnavailable(
            f"PDF reports need Chromium: {chromium} not found "
            "(apt-get install chromium, or set reports.chromium)"
        )


def html_to_pdf(html: str, chromium: Path, timeout: float) -> bytes:
    """The PDF of a self-contained HTML page (no network: the page has no external asset)."""
    check_chromium(chromium)
    with _PRINTS, tempfile.TemporaryDirectory(prefix="socmon-pdf-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        cmd = [
            str(chromium),
            "--headless",
            "--no-sandbox",  # socmon may run as root in a container, where the sandbox fails
            "--disable-gpu",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={out}",
            page.as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            PDF_RENDERS.labels("timeout").inc()
            raise PdfUnavailable(
                f"Chromium did not print the report within {timeout:.0f} s"
            ) from None
        if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            PDF_RENDERS.labels("error").inc()
            tail = done.stderr.decode(errors="replace")[-300:]
            raise PdfUnavailable(f"Chromium could not print the report ({done.returncode}): {tail}")
        PDF_RENDERS.labels("ok").inc()
        return out.read_bytes()
