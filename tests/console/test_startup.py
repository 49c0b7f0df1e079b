"""No silent fallback: the service does not start without the console's npm assets or its
compiled translations, and says which command installs them."""

from __future__ import annotations

import pytest

from socmon.api.app import create_app
from socmon.api.console.assets import AssetsMissing
from socmon.api.console.i18n import CatalogueMissing, load_catalogues


def test_missing_assets_stop_the_start(ctx, tmp_path):
    ctx.settings.api.console_assets_dir = tmp_path
    with pytest.raises(AssetsMissing, match=r"htmx\.min\.js.*npm ci"):
        create_app(ctx)


def test_missing_catalogues_stop_the_start(tmp_path):
    with pytest.raises(CatalogueMissing, match=r"messages\.mo.*bootstrap"):
        load_catalogues(tmp_path)


def test_static_assets_are_served_from_npm(client):
    r = client.get("/static/vendor/htmx/htmx.min.js")
    assert r.status_code == 200 and "htmx" in r.text[:2000]
    assert client.get("/static/console.css").status_code == 200
    # only the listed packages' folders are served, not node_modules as a whole
    assert client.get("/static/vendor/axe-core/axe.min.js").status_code == 404
