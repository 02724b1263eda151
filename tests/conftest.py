"""Shared fixtures: small texts and tiny trained models that every test file can use."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPUBLIC = ROOT / "corpora" / "republic.txt"


@pytest.fixture
def tiny_text(tmp_path: Path) -> Path:
    """A short, repetitive text: enough for a few chunks, quick to memorise."""
    path = tmp_path / "tiny.txt"
    path.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    return path


@pytest.fixture
def republic() -> Path:
    """The bundled corpus (the project's own copy)."""
    return REPUBLIC
