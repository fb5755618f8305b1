"""Regenerate docs/report-page1.png: page 1 of a realistic sample case report.

    python -m tools.make_report_example [--out-dir docs] [--pdf FILE] [--appendix] [--page-size A4|Letter]

The fields are synthetic blood-smear pictures and the calls are made up (a layout example, not a
result). The case lives in a throw-away database; nothing touches the user's data.
Segmentation and activation-map overlays here are simple stand-ins drawn with OpenCV, so the
example does not need the model. The PNG needs poppler's ``pdftoppm``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lab_app.core.case_models import LabInfo, Patient, Sample
from lab_app.core.cases import CaseStore
from lab_app.core.report import build_report, card_metrics
from lab_app.core.results import FLAG_LOW_CONFIDENCE, FLAG_OUT_OF_SCOPE, ImageResult
from model.modeldir import default_model_dir, read_model_json

REPO = Path(__file__).resolve().parents[1]

# The bundled model's card, so the example never quotes a model that is not shipped.
_CARD = read_model_json(default_model_dir())
MODEL = {k: _CARD[k] for k in ("name", "version", "sha256")}
METRICS = card_metrics(_CARD)
PLAN = [  # (class id, confidence, flags, decision, override class, reason)
    ("Pre", 0.94, [], "accepted", None, None),
    ("Pre", 0.88, [], "accepted", None, None),
    ("Pro", 0.55, [FLAG_LOW_CONFIDENCE], "overridden", "Pre", "Nuclear chromatin and cell size typical of Pre-B blasts"),
    ("Pre", 0.91, [], "accepted", None, None),
    ("Early", 0.81, [], "accepted", None, None),
    ("Benign", 0.47, [FLAG_OUT_OF_SCOPE], "pending", None, None),
]


class FixedClock:
    """Store timestamps a minute apart from a fixed start, so the example is reproducible."""

    def __init__(self) -> None:
        self.t = dt.datetime(2024, 5, 2, 9, 30, tzinfo=dt.timezone.utc)

    def __call__(self) -> str:
        self.t += dt.timedelta(minutes=1)
        return self.t.isoformat(timespec="seconds")


def synthetic_field(seed: int, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A pink background with red cells and a few purple-nucleated leukocytes (RGB)."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full((h, w, 3), (236, 214, 222), np.uint8)
    for _ in range(90):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(img, c, int(rng.integers(14, 22)), (214, 150, 160), -1)
        cv2.circle(img, c, int(rng.integers(5, 8)), (226, 180, 188), -1)
    for _ in range(int(rng.integers(2, 5))):
        c = (int(rng.integers(60, w - 60)), int(rng.integers(60, h - 60)))
        cv2.circle(img, c, int(rng.integers(34, 46)), (200, 170, 210), -1)
        cv2.ellipse(img, c, (int(rng.integers(22, 32)), int(rng.integers(20, 30))),
                    float(rng.integers(0, 180)), 0, 360, (98, 48, 140), -1)
    img = cv2.GaussianBlur(img, (5, 5), 0)
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def cell_mask(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    mask = cv2.inRange(hsv, (115, 80, 40), (165, 255, 230))
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))


def segmentation_overlay(image) -> np.ndarray | None:
    rgb = np.asarray(Image.open(image.path).convert("RGB"))
    out = rgb.copy()
    contours, _ = cv2.findContours(cell_mask(rgb), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (0, 200, 60), 3)
    return out


def cam_overlay(image) -> np.ndarray | None:
    rgb = np.asarray(Image.open(image.path).convert("RGB"))
    heat = cv2.GaussianBlur(cell_mask(rgb).astype(np.float32), (0, 0), 25)
    heat = (255 * heat / max(float(heat.max()), 1e-6)).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(heat, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 0.55, colour, 0.45, 0)


def sample_images(folder: Path) -> list[Path]:
    """Synthetic fields: the example's calls are made up, so it never shows real cells mislabelled."""
    paths = []
    for i in range(len(PLAN)):
        p = folder / f"field_{i + 1:02d}.jpg"
        Image.fromarray(synthetic_field(i)).save(p, quality=92)
        paths.append(p)
    return paths


def make_case(store: CaseStore, images: list[Path]) -> int:
    case = store.create_case(
        patient=Patient("MRN-2024-00173", "Σωκράτης Παπαδόπουλος", "1987-03-14", "M"),
        sample=Sample("PB-24-0512", "Peripheral blood smear, Wright-Giemsa", "2024-05-02", "2024-05-02"),
        technician="Ana Müller", physician="Dr. Фёдор Достоевский",
        lab=LabInfo("Central Hematology Research Laboratory",
                    "Department of Laboratory Medicine\n12 Example Avenue, Springfield", None))
    for path, (cls, conf, flags, *_rest) in zip(images, PLAN):
        with Image.open(path) as im:
            w, h = im.size
        probs = {c: round((1 - conf) / 3, 4) for c in ("Benign", "Early", "Pre", "Pro")}
        probs[cls] = conf
        store.add_result(case.id, ImageResult(
            path=str(path), prediction=cls, confidence=conf, probabilities=probs,
            cells=int(np.count_nonzero(cell_mask(np.asarray(Image.open(path).convert("RGB")))) // 3000 + 1),
            flags=list(flags), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), width=w, height=h,
            segmentation={"preset": "default"}, model=dict(MODEL), device="cpu",
            analysed_at="2024-05-02T09:41:00+00:00"))
    store.add_result(case.id, ImageResult(path=str(images[0].parent / "field_07.tif"), status="error",
                                          error="The file is not a readable image (truncated TIFF).",
                                          flags=["load_error"]))
    for img, (_c, _p, _f, decision, override, reason) in zip(store.get_case(case.id).images, PLAN):
        if decision != "pending":
            store.set_decision(case.id, img.id, "Ana Müller", decision, override, reason)
    store.sign_off(case.id, "Ana Müller", "Dr. محمد رضایی", require_reviewer=True)
    return case.id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "docs")
    ap.add_argument("--pdf", type=Path, default=None, help="also keep the whole PDF here")
    ap.add_argument("--appendix", action="store_true")
    ap.add_argument("--page-size", default="A4", choices=("A4", "Letter"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        images = sample_images(tmp_path)
        with CaseStore(tmp_path / "cases.sqlite3", clock=FixedClock()) as store:
            case_id = make_case(store, images)
            pdf = build_report(store, case_id, args.pdf or tmp_path / "report-example.pdf",
                               page_size=args.page_size, include_appendix=args.appendix, overwrite=True,
                               overlay_provider=segmentation_overlay, cam_provider=cam_overlay,
                               model_metrics=METRICS, confidence_threshold=0.6,
                               generated_at=dt.datetime(2024, 5, 2, 10, 5, tzinfo=dt.timezone.utc))
            if not shutil.which("pdftoppm"):
                print("pdftoppm (poppler-utils) is needed to render the PNG.", file=sys.stderr)
                return 1
            subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                            str(pdf), str(args.out_dir / "report-page1")], check=True)
    print(args.out_dir / "report-page1.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
