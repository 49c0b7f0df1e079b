"""/docs: Swagger UI served by the API itself, from the pinned ``swagger-ui-py`` package's
static files (Swagger UI 5.x, which reads OpenAPI 3.1): the page works offline and loads
nothing from a CDN, so its Content-Security-Policy can allow this server only."""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from socmon.api.auth import public

SWAGGER_STATIC = Path(swagger_ui.__file__).resolve().parent / "static"
INIT_JS = Path(__file__).resolve().parent / "docs_init.js"  # package data (*.js)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>socmon API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/docs-init.js"></script>
</body>
</html>
"""

router = APIRouter(tags=["system"], dependencies=[Depends(public)], include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/docs-init.js")
def docs_init() -> FileResponse:
    return FileResponse(INIT_JS, media_type="text/javascript")


def install(app: FastAPI) -> None:
    """Add /docs and its static files; refuses to start without Swagger UI's assets."""
    if not (SWAGGER_STATIC / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"Swagger UI assets missing in {SWAGGER_STATIC} (swagger-ui-py)")
    app.include_router(router)
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_STATIC), name="docs-static")
