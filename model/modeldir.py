"""Model directories: the card (model.json) and integrity checks.

A model dir holds weights.pt (state_dict), model.onnx, model.json and MODEL_CARD.md. The sha256
of each binary is recorded in model.json and checked before use, so a tampered or swapped file is
refused instead of silently giving different answers. No torch import here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import ModelLoadError

MODEL_JSON = "model.json"
WEIGHTS = "weights.pt"
ONNX = "model.onnx"
REQUIRED_KEYS = ("name", "version", "arch", "classes", "display_names", "input_size", "mean",
                 "std", "temperature", "sha256")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_model_json(model_dir: Path) -> dict:
    model_dir = Path(model_dir)
    path = model_dir / MODEL_JSON
    if not model_dir.is_dir():
        raise ModelLoadError(f"The model folder {model_dir} does not exist.")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{model_dir} is not a model folder: {MODEL_JSON} is missing.") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"The model description {path} cannot be read: {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ModelLoadError(f"{path} is incomplete (missing {', '.join(missing)}).")
    return meta


def verify_file(model_dir: Path, filename: str, expected_sha256: str | None) -> Path:
    """Check that ``filename`` exists and matches the hash in model.json; return its path."""
    path = Path(model_dir) / filename
    if not path.is_file():
        raise ModelLoadError(f"The model file {path} is missing; reinstall the model.")
    if not expected_sha256:
        raise ModelLoadError(f"model.json in {model_dir} records no checksum for {filename}.")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ModelLoadError(
            f"The model file {path} does not match its recorded checksum (expected "
            f"{expected_sha256[:12]}…, found {actual[:12]}…). It was changed or damaged; "
            f"reinstall the model or restore the original file.")
    return path


def bundled_models_root() -> Path:
    """resources/models beside the packages (source tree) or inside a frozen bundle."""
    env = os.environ.get("LABAPP_RESOURCES")
    if env:
        return Path(env) / "models"
    import sys
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    return base / "resources" / "models"


def default_model_dir() -> Path:
    """The bundled model: the single (or newest-named) folder under resources/models."""
    root = bundled_models_root()
    dirs = sorted(p for p in root.glob("*") if (p / MODEL_JSON).is_file()) if root.is_dir() else []
    if not dirs:
        raise ModelLoadError(f"No bundled model found under {root}; pass --model DIR.")
    return dirs[-1]
