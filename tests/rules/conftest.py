"""Fixtures shared by the SigmaHQ corpus tests (one compiled engine per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.sigma_engine import CORPUS
from socmon.rules.engine import StreamingEngine
from socmon.rules.loader import load_rules


@pytest.fixture(scope="session")
def sigmahq(datasets: Path) -> Path:
    return datasets / "sigmahq"


@pytest.fixture(scope="session")
def corpus_engine(sigmahq: Path) -> StreamingEngine:
    """socmon's engine over the SigmaHQ corpus (rules, emerging threats, threat hunting,
    compliance, placeholders)."""
    return StreamingEngine.from_rules(load_rules([sigmahq / d for d in CORPUS]))
