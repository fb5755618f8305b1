"""Plain helpers shared by the tests (fixtures live in conftest.py and fixtures_*.py).

``from helpers import ...`` works from every test folder: pytest puts tests/ on sys.path for
tests/conftest.py.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
from PIL import Image

from lab_app.core.results import ImageResult

REPO = Path(__file__).resolve().parents[1]
# The 8 sample fields shipped in resources/samples (2 per class), sorted by name.
SAMPLES_DIR = REPO / "resources" / "samples"
SAMPLES = sorted(SAMPLES_DIR.glob("*.jpg"))
assert len(SAMPLES) >= 4, f"{SAMPLES_DIR} should hold the bundled sample fields (it is in git)"

MODEL = {"name": "mobilenetv2-all", "version": "1.0.0", "sha256": "ab" * 32}


class Clock:
    """Deterministic UTC clock for ``CaseStore(clock=...)``: one second per call, from
    ``<hour>:00:01`` on (``hour`` like "2024-05-01T10")."""

    def __init__(self, hour: str = "2024-05-01T10") -> None:
        self.hour = hour
        self.t = 0

    def __call__(self) -> str:
        self.t += 1
        return f"{self.hour}:{self.t // 60 % 60:02d}:{self.t % 60:02d}+00:00"


def result(name: str, prediction: str | None = "Pre", confidence: float = 0.9, *,
           sha: str | None = "auto", flags=(), status: str = "ok", error: str | None = None) -> ImageResult:
    """An analysed field at /slides/<name> (its sha256 made from the name unless ``sha`` is
    given); ``prediction=None`` makes a row without a call."""
    probs = {c: 0.0 for c in ("Benign", "Early", "Pre", "Pro")}
    if prediction:
        probs[prediction] = confidence
    return ImageResult(
        path=f"/slides/{name}", status=status, error=error, prediction=prediction,
        confidence=confidence if prediction else None, probabilities=probs if prediction else {},
        cells=12, flags=list(flags), sha256=(name.encode().hex().ljust(64, "0")[:64] if sha == "auto" else sha),
        width=640, height=480, segmentation={"preset": "default", "hue": [120, 170]},
        model=dict(MODEL), device="cpu", analysed_at="2024-05-01T10:00:00+00:00")


def synthetic_field(path: Path, seed: int) -> Path:
    """A small 64 x 48 smear-coloured picture with one purple 'cell' where ``seed`` puts it,
    saved to ``path``; returns ``path``."""
    rng = np.random.default_rng(seed)
    arr = np.full((48, 64, 3), (236, 214, 222), np.uint8)
    y, x = rng.integers(8, 36), rng.integers(8, 52)
    arr[y - 6:y + 6, x - 6:x + 6] = (98, 48, 140)
    Image.fromarray(arr).save(path)
    return path


def copy_samples(folder: Path, count: int | None = None) -> Path:
    """The first ``count`` bundled sample fields (all 8 when None) copied into ``folder``,
    which is created; returns ``folder``."""
    folder.mkdir()
    for p in SAMPLES[:count]:
        shutil.copy(p, folder / p.name)
    return folder


def copy_fields(shipped_fields: dict[str, list[Path]], folder: Path, picks: tuple[int, ...]) -> Path:
    """The shipped fields (tests/conftest.py ``shipped_fields``) numbered ``picks`` of every class
    copied into ``folder``, which is created; returns ``folder``."""
    folder.mkdir()
    for paths in shipped_fields.values():
        for i in picks:
            shutil.copy(paths[i], folder / paths[i].name)
    return folder


def raw_sql(where: str | Path, sql: str, *args) -> None:
    """A change made outside the program: plain SQL, committed on a connection of its own, to an
    SQLite file or a PostgreSQL URL."""
    if str(where).startswith("postgresql://"):
        import psycopg
        with psycopg.connect(str(where), autocommit=True) as conn:
            conn.execute(sql, args or None)
        return
    conn = sqlite3.connect(where)
    with conn:
        conn.execute(sql, args)
    conn.close()
