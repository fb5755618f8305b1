"""Reproduce the weight-averaging lines of docs/model-development.md: mixtures of the bundled
model's weights with fine-tunes of it, scored on its validation split (split.json in the model dir).

    python -m research.weight_interpolation BASE_DIR NAME=PART:WEIGHT[,PART:WEIGHT...] ...

A PART is a model dir, a best.pt or a checkpoint_last.pt; ``base`` is BASE_DIR itself. Example
(the session-4 runs, which stay in runs/ and are not in git, were fine-tunes of model 2.0.0, no
longer bundled: extract it from git as research/README.md says):

    python -m research.weight_interpolation /tmp/m200/resources/models/mobilenetv2-all-2.0.0 \\
        half=base:0.5,runs/ft-swap/checkpoint_last.pt:0.5 \\
        soup=runs/ft-swap/checkpoint_last.pt:0.5,runs/ft-control/checkpoint_last.pt:0.5

Needs torch and ../shared/data/all-taleqani (or LABAPP_DATASET_DIR). Prints, per mixture, the
validation accuracy, macro-F1, the share of calls the context check changes, and the errors.
BatchNorm statistics are averaged like the weights (the parts share one starting point).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model.architecture import build_model
from model.context_check import context_check
from model.data import read_rgb, scan_folder_dataset
from model.metrics import classification_report, softmax
from model.preprocessing import PreprocessConfig, model_field, preprocess_fields

from .common import dataset_root


def state_dict(part: str, base: Path) -> dict:
    import torch
    path = base / "weights.pt" if part == "base" else Path(part)
    if path.is_dir():
        path = path / "weights.pt"
    obj = torch.load(path, map_location="cpu", weights_only=False)
    return obj["model"] if isinstance(obj, dict) and "model" in obj else obj


def mixture(spec: str, base: Path) -> dict:
    parts = [(state_dict(p, base), float(w)) for p, w in (x.rsplit(":", 1) for x in spec.split(","))]
    first = parts[0][0]
    return {k: sum(w * sd[k].float() for sd, w in parts) if first[k].is_floating_point() else first[k]
            for k in first}


def main() -> int:
    import torch
    ap = argparse.ArgumentParser()
    ap.add_argument("bundled", type=Path)
    ap.add_argument("mixtures", nargs="+", metavar="NAME=PART:WEIGHT,...")
    args = ap.parse_args()
    data = dataset_root()
    meta = json.loads((args.bundled / "model.json").read_text())
    classes = meta["classes"]
    # With the model's colour constancy, if it has one (2.3.0 on; 2.0.0 reads colours as captured).
    pre = PreprocessConfig.from_json(meta)
    wanted = set(json.loads((args.bundled / "split.json").read_text())["val"])
    val = [s for s in scan_folder_dataset(data / "Original", tuple(classes)) if s.rel in wanted]
    y = np.array([classes.index(s.class_id) for s in val])
    fields = [model_field(read_rgb(s.path), pre) for s in val]
    x = torch.from_numpy(preprocess_fields(fields, pre))
    net = build_model(len(classes)).eval()

    def calls(batch):
        with torch.inference_mode():
            return net(torch.from_numpy(preprocess_fields(batch, pre))).argmax(1).numpy()

    for item in [f"{meta['version']}=base:1", *args.mixtures]:
        name, spec = item.split("=", 1)
        net.load_state_dict(mixture(spec, args.bundled))
        with torch.inference_mode():
            logits = torch.cat([net(x[i:i + 128]) for i in range(0, len(x), 128)]).numpy()
        rep = classification_report(y, softmax(logits), classes)
        cc = context_check(calls, pre.input_size, fields, y)
        wrong = [val[i].rel.rsplit("/", 1)[-1] for i in np.flatnonzero(logits.argmax(1) != y)]
        print(f"{name}: accuracy {rep['accuracy']:.4f}, macro-F1 {rep['macro_f1']:.4f}, "
              f"calls changed {cc['calls_changed']:.3f}; {len(wrong)} wrong: {' '.join(wrong)}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
