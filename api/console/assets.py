"""Static files: our own CSS/JS (``api/static``) and the third-party assets npm installed.

The third-party files are checked at start-up: missing ones stop the service with the command
that installs them (no silent fallback to a page without its scripts, no CDN).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from socmon.settings import PROJECT_ROOT

OWN_DIR = Path(__file__).resolve().parent.parent / "static"
# URL folder under /static/vendor/ -> (npm package, folder in it, files the pages use)
VENDOR: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "htmx": ("htmx.org", "dist", ("htmx.min.js",)),
    "uplot": ("uplot", "dist", ("uPlot.iife.min.js", "uPlot.min.css")),
}


class AssetsMissing(RuntimeError):
    """The console's third-party assets are not installed."""


def assets_dir(configured: Path | None) -> Path:
    return configured if configured is not None else PROJECT_ROOT / "node_modules"


def vendor_dirs(base: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    missing: list[str] = []
    for url, (package, folder, files) in VENDOR.items():
        d = base / package / folder
        missing.extend(str(d / f) for f in files if not (d / f).is_file())
        out[url] = d
    if missing:
        raise AssetsMissing(
            "console assets missing: "
            + ", ".join(missing)
            + " (run deploy/bootstrap.sh, which runs `npm ci` with package-lock.json)"
        )
    return out


def mount(app: FastAPI, base: Path) -> None:
    for url, d in vendor_dirs(base).items():
        app.mount(f"/static/vendor/{url}", StaticFiles(directory=d), name=f"vendor-{url}")
    app.mount("/static", StaticFiles(directory=OWN_DIR), name="static")
