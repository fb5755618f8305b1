"""``labapp-eval``: measure a model dir on a labelled folder (one sub-folder per class)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .data import read_rgb, scan_folder_dataset
from .errors import ModelError
from .inference import InferenceEngine
from .metrics import classification_report
from .atomic import atomic_write_json
from .preprocessing import model_field, preprocess_fields


def evaluate_folder(engine: InferenceEngine, data_dir: Path, chunk: int = 256,
                    context_check: bool = False) -> dict:
    """Metrics of ``engine`` on ``data_dir`` (every file counts, duplicates included). With
    ``context_check`` the report also says how many calls change when each field's background
    is swapped for another class's (model/context_check.py)."""
    samples = scan_folder_dataset(Path(data_dir), tuple(engine.classes))
    pre = engine.preprocess_config
    size = pre.input_size
    y, probs, kept = [], [], []
    for i in range(0, len(samples), chunk):  # bounded memory on large folders
        part = samples[i:i + chunk]
        # Prepared here exactly as predict() would, so each file is decoded once and the
        # context check can keep the fields at the model's input size.
        fields = [model_field(read_rgb(s.path), pre) for s in part]
        probs.append(engine.run_preprocessed(preprocess_fields(fields, pre)).probabilities)
        y += [engine.classes.index(s.class_id) for s in part]
        if context_check:
            kept += fields
    y_all, p_all = np.array(y), np.concatenate(probs)
    report = classification_report(y_all, p_all, engine.classes)
    seen = training_overlap(engine.model_dir, samples)
    report["training_overlap"] = {"images": int(seen.sum()), "of": len(samples),
                                  "known": seen_known(engine.model_dir)}
    if seen.any() and not seen.all():
        # The honest figures: only the images the model did not train on.
        report["unseen"] = classification_report(y_all[~seen], p_all[~seen], engine.classes)
    report["model"] = {k: engine.info[k] for k in ("name", "version", "sha256")}
    report["device"] = engine.device_label
    report["data_dir"] = str(data_dir)
    if context_check:
        from .context_check import context_check as check
        report["context_check"] = check(
            lambda batch: engine.run_preprocessed(preprocess_fields(batch, pre)).probabilities.argmax(1),
                                        size, kept, np.array(y))
    return report


def _training_lists(model_dir: Path) -> tuple[set[str], set[str]] | None:
    """(class/file names, sha256s) of the images the model trained on, from its split.json."""
    path = Path(model_dir) / "split.json"
    try:
        split = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return set(split.get("train", [])), set(split.get("train_sha256", []))


def seen_known(model_dir: Path) -> bool:
    """Whether the model dir says which images it trained on (split.json)."""
    return _training_lists(model_dir) is not None


def training_overlap(model_dir: Path, samples: list) -> np.ndarray:
    """Per sample: did the model train on it? By sha256 (any name) or by class/file name."""
    lists = _training_lists(model_dir)
    if lists is None:
        return np.zeros(len(samples), bool)
    names, hashes = lists
    return np.array([s.rel in names or s.sha256 in hashes for s in samples], bool)


def format_report(rep: dict) -> str:
    lines = [f"n={rep['n']}  accuracy={rep['accuracy']:.4f}  macro-F1={rep['macro_f1']:.4f}  "
             f"ECE={rep['ece']:.4f}", f"{'class':<10}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for c, v in rep["per_class"].items():
        lines.append(f"{c:<10}{v['precision']:>10.4f}{v['recall']:>10.4f}{v['f1']:>10.4f}{v['support']:>9}")
    lines.append("confusion matrix (rows true): " + str(rep["confusion_matrix"]))
    cc = rep.get("context_check")
    if cc and cc.get("n"):
        lines.append(f"context check (background swapped for another class's, n={cc['n']}): "
                     f"accuracy {cc['accuracy_original']:.4f} -> {cc['accuracy_swapped']:.4f}, "
                     f"calls changed {cc['calls_changed']:.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="labapp-eval", description=(
        "Evaluate the classifier on a folder with one sub-folder per class "
        "(class id or display name, any case)."))
    p.add_argument("data_dir")
    p.add_argument("--model", default=None, help="model dir (default: the bundled model)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--json", dest="json_out", default=None, help="write the metrics as JSON here")
    p.add_argument("--context-check", action="store_true",
                   help="also measure how often a call changes when a field's background is "
                        "swapped for another class's (reliance on the smear, not the cells)")
    args = p.parse_args(argv)
    try:
        engine = InferenceEngine(args.model, device=args.device)
        rep = evaluate_folder(engine, Path(args.data_dir), context_check=args.context_check)
    except ModelError as exc:
        print(f"labapp-eval: {exc}", file=sys.stderr)
        return 1
    overlap = rep["training_overlap"]
    if overlap["images"]:
        unseen = rep.get("unseen")
        print(f"labapp-eval: warning: the model trained on {overlap['images']} of these "
              f"{overlap['of']} images (by file name or content, split.json of the model); the "
              "figures below include them and overstate how it does on new images."
              + (f" On the {unseen['n']} images it did not train on: accuracy "
                 f"{unseen['accuracy']:.4f}, macro-F1 {unseen['macro_f1']:.4f}." if unseen else
                 " None of them is new to it."), file=sys.stderr)
    elif not overlap["known"]:
        print("labapp-eval: note: the model dir has no split.json, so whether it trained on "
              "these images cannot be checked.", file=sys.stderr)
    print(format_report(rep))
    if args.json_out:
        atomic_write_json(Path(args.json_out), rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
