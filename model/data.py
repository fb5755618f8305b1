"""Folder data sets, content-hash de-duplication and the contiguous-block validation split.

Neighbouring file numbers come from the same smear, so a random image split leaks: validation
takes whole contiguous blocks of file numbers per class, and byte-identical files (same sha256)
always land on the same side. The split is written out so it can be reproduced.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .classes import CLASS_IDS, class_id_for
from .errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
_TRAILING_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Sample:
    path: Path
    class_id: str
    number: int          # file number within its class (the smear order); -1 if none
    sha256: str

    @property
    def rel(self) -> str:
        return f"{self.class_id}/{self.path.name}"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _file_number(name: str) -> int:
    m = _TRAILING_NUMBER.search(Path(name).stem)
    return int(m.group(1)) if m else -1


def scan_folder_dataset(root: Path, known_classes: tuple[str, ...] = CLASS_IDS,
                        allow_new_classes: bool = False) -> list[Sample]:
    """One sub-folder per class (class id or display name, any case). Hidden files skipped."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"The data folder {root} does not exist.")
    samples: list[Sample] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        cid = class_id_for(sub.name, known_classes)
        if cid is None:
            if not allow_new_classes:
                raise DataError(
                    f"The folder '{sub.name}' in {root} is not a known class "
                    f"({', '.join(known_classes)}). Rename it, or train a new head with --new-head.")
            cid = sub.name
        files = sorted(p for p in sub.rglob("*") if p.is_file()
                       and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        for f in files:
            samples.append(Sample(f, cid, _file_number(f.name), file_sha256(f)))
    if not samples:
        raise DataError(f"No images found in class folders under {root}.")
    return samples


def deduplicate(samples: list[Sample]) -> tuple[list[Sample], list[dict]]:
    """Keep the first of byte-identical files. Identical files under two classes are an error."""
    first: dict[str, Sample] = {}
    kept, dropped = [], []
    for s in samples:
        other = first.get(s.sha256)
        if other is None:
            first[s.sha256] = s
            kept.append(s)
            continue
        if other.class_id != s.class_id:
            raise DataError(f"{s.path} and {other.path} are the same image with different "
                            f"labels ({s.class_id} vs {other.class_id}); fix the labels first.")
        dropped.append({"file": str(s.path), "duplicate_of": str(other.path)})
    return kept, dropped


def block_split(samples: list[Sample], val_fraction: float = 0.2, n_blocks: int = 10,
                seed: int = 0, gap: int = 2,
                fold: tuple[int, int] | None = None) -> tuple[list[Sample], list[Sample], dict]:
    """Per class: sort by file number, cut into ``n_blocks`` contiguous blocks, send
    round(val_fraction * n_blocks) of them (chosen with ``seed``) to validation.

    ``fold=(i, k)`` (1 <= i <= k) makes it fold i of a k-fold block cross-validation instead: each
    class's blocks are shuffled with ``seed`` and dealt into k groups, and group i validates, so the
    k folds of one seed validate every block exactly once (``val_fraction`` is then unused).

    ``gap`` training images on each side of a validation block are left out of training: they are
    the nearest neighbours of validation fields on the same smear. Files with the same sha256 go
    wherever the first of them goes. Returns (train, val, description of the split).
    """
    rng = np.random.default_rng(seed)
    train, val, blocks_desc = [], [], {}
    for cid in sorted({s.class_id for s in samples}):
        items = sorted((s for s in samples if s.class_id == cid), key=lambda s: (s.number, s.path.name))
        n = len(items)
        k = max(1, min(n_blocks, n))
        bounds = np.linspace(0, n, k + 1).round().astype(int)
        if fold is not None:
            groups = np.array_split(rng.permutation(k), fold[1])
            val_blocks = set(groups[fold[0] - 1].tolist()) if n >= 2 else set()
        else:
            n_val_blocks = max(1, int(round(val_fraction * k))) if n >= 2 else 0
            val_blocks = (set(rng.choice(k, size=n_val_blocks, replace=False).tolist())
                          if n_val_blocks else set())
        block_of = np.searchsorted(bounds, np.arange(n), side="right") - 1
        in_block = [block_of[i] in val_blocks for i in range(n)]
        # A file goes wherever the first copy of its content went.
        side_of_hash: dict[str, bool] = {}
        in_val = np.array([side_of_hash.setdefault(s.sha256, in_block[i]) for i, s in enumerate(items)])
        # Guard band: training items within `gap` positions of a validation item are dropped.
        near_val = np.zeros(n, bool)
        for i in np.flatnonzero(in_val):
            near_val[max(0, i - gap): i + gap + 1] = True
        for i, s in enumerate(items):
            if in_val[i]:
                val.append(s)
            elif not near_val[i]:
                train.append(s)
        blocks_desc[cid] = {
            "n": n, "blocks": k,
            "val_blocks": sorted(int(b) for b in val_blocks),
            "val_numbers": [[int(items[bounds[b]].number), int(items[bounds[b + 1] - 1].number)]
                            for b in sorted(val_blocks) if bounds[b + 1] > bounds[b]],
        }
    desc = {"protocol": "contiguous blocks of file numbers per class",
            "val_fraction": 1 / fold[1] if fold else val_fraction,
            "n_blocks": n_blocks, "seed": seed, "gap": gap, "classes": blocks_desc,
            **({"fold": list(fold)} if fold else {}),
            "train": [s.rel for s in train], "val": [s.rel for s in val]}
    return train, val, desc


def recorded_data_hashes(data: dict) -> set[str]:
    """The file-list hashes a model.json "data" record stands for: a run re-exported against
    pixel-identical files with other bytes (bench/gpu/pack_dataset.sh) keeps both."""
    return {h for h in (data.get("file_list_sha256"), data.get("file_list_sha256_as_trained")) if h}


def file_list_hash(samples: list[Sample]) -> str:
    h = hashlib.sha256()
    for line in sorted(f"{s.rel}\t{s.sha256}" for s in samples):
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (training data; the app has its own robust loader)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"Could not read training image {path}: {exc}") from exc
