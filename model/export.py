"""Turn a training run into a model dir: weights.pt, model.onnx, model.json, MODEL_CARD.md, plots.

``python -m model.export RUN_DIR`` re-exports from a finished run (best.pt + run.json + split.json).
``--data-dir`` points a run trained on another machine (a lent GPU, say) at this machine's copy of
its data; the copy must hold the same images, so the split and the duplicate groups must match.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import platform
import sys
from pathlib import Path

import numpy as np

from . import __version__, ood
from .architecture import ARCH_NAME, LogitsFeaturesCam, build_model
from .calibration import choose_low_confidence_threshold, fit_temperature
from .classes import DISPLAY_NAMES
from .data import deduplicate, file_list_hash, read_rgb, scan_folder_dataset
from .errors import DataError
from .metrics import classification_report, expected_calibration_error, softmax
from .model_card import render_model_card
from .atomic import atomic_write_bytes, atomic_write_json
from .manifest import write_manifest
from .modeldir import ONNX, WEIGHTS, read_model_json, sha256_file
from .plots import confusion_png, training_curve_png
from .preprocessing import PreprocessConfig, model_field, preprocess_fields
from .white_balance import estimate_background
from .recipe import RECIPE_OPTIONS, recipe_value

ONNX_OPSET = 17
PARITY_FIELDS = 16   # fields the ONNX parity check runs on (a refit: training fields)


def _versions() -> dict:
    import torch
    import torchvision
    out = {"python": platform.python_version(), "torch": torch.__version__,
           "torchvision": torchvision.__version__, "numpy": np.__version__, "model_package": __version__}
    for mod in ("onnx", "onnxruntime"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return out


def export_onnx(net, input_size: int, path: Path) -> None:
    """Export logits, the last feature map and per-class CAMs with a dynamic batch axis."""
    import torch
    # The wrapper must be in eval mode itself: export restores its training flag afterwards,
    # which would otherwise switch the shared BatchNorm layers back to training mode.
    wrapper = LogitsFeaturesCam(net.float().cpu()).eval()
    dummy = torch.zeros(1, 3, input_size, input_size)
    buf = io.BytesIO()
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}, "cam": {0: "batch"}}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # The TorchScript exporter gives a self-contained single-file graph for this plain CNN.
        torch.onnx.export(wrapper, (dummy,), buf, input_names=["input"],
                          output_names=["logits", "features", "cam"], dynamic_axes=axes,
                          opset_version=ONNX_OPSET, dynamo=False)
    atomic_write_bytes(path, buf.getvalue())


def _val_set(run: dict, run_dir: Path, part: str = "val", limit: int | None = None):
    split = json.loads((run_dir / "split.json").read_text())
    classes = run["classes"]
    wanted = set(split[part][:limit])
    samples = []
    for d in run["config"]["data_dirs"]:
        samples += [s for s in scan_folder_dataset(Path(d), tuple(classes), allow_new_classes=True)
                    if s.rel in wanted]
    seen, val = set(), []
    for s in samples:
        if s.rel not in seen:
            seen.add(s.rel)
            val.append(s)
    y = np.array([classes.index(s.class_id) for s in val])
    return val, y


def relocate_run_data(run: dict, run_dir: Path, data_dirs: list[str]) -> None:
    """Point ``run`` at local data dirs; check they hold what the run was trained on."""
    classes = tuple(run["classes"])
    samples = []
    for d in data_dirs:
        samples += scan_folder_dataset(Path(d), classes, allow_new_classes=True)
    unique, dropped = deduplicate(samples)
    data = run["data"]
    if (len(unique), len(dropped)) != (data["n_unique"], data["duplicates_dropped"]):
        raise DataError(f"{', '.join(data_dirs)} holds {len(unique)} unique images and "
                        f"{len(dropped)} duplicates; the run was trained on {data['n_unique']} and "
                        f"{data['duplicates_dropped']}.")
    split = json.loads((run_dir / "split.json").read_text())
    have = {s.rel for s in samples}
    missing = [r for r in split["train"] + split["val"] if r not in have]
    if missing:
        raise DataError(f"{len(missing)} images of the run's split are not in {', '.join(data_dirs)} "
                        f"(first: {missing[0]}).")
    local_hash = file_list_hash(unique)
    if data["file_list_sha256"] != local_hash:
        data["file_list_sha256_as_trained"] = data["file_list_sha256"]
        data["file_list_sha256"] = local_hash
    run["config"]["data_dirs"] = [str(d) for d in data_dirs]


def _context_check(net, pre: PreprocessConfig, val_fields, y_val) -> dict:
    """The validation fields with their backgrounds swapped (model/context_check.py)."""
    import torch

    from .context_check import context_check

    def predict_calls(batch):
        with torch.inference_mode():
            return net(torch.from_numpy(preprocess_fields(batch, pre))).argmax(1).numpy()
    return context_check(predict_calls, pre.input_size, val_fields, y_val)


def _validation_figures(net, pre: PreprocessConfig, val_samples, y_val, val_fields, x_val, classes):
    """Temperature, flag threshold, metrics and misclassified files on the validation split
    (``x_val``: ``val_fields`` preprocessed)."""
    import torch
    with torch.inference_mode():
        logits = np.concatenate([net(torch.from_numpy(x_val[i:i + 128])).numpy()
                                 for i in range(0, len(x_val), 128)])
    temperature = fit_temperature(logits, y_val)
    probs_raw, probs_cal = softmax(logits), softmax(logits, temperature)
    metrics = classification_report(y_val, probs_cal, classes)
    metrics["ece_before_calibration"] = expected_calibration_error(probs_raw, y_val)
    metrics["ece_after_calibration"] = metrics["ece"]
    threshold = choose_low_confidence_threshold(probs_cal, y_val)
    conf, correct = probs_cal.max(axis=1), probs_cal.argmax(axis=1) == y_val
    kept = conf >= threshold
    metrics["low_confidence"] = {
        "threshold": threshold, "flagged_fraction": float(1 - kept.mean()),
        "unflagged_accuracy": float(correct[kept].mean()) if kept.any() else None,
        "errors_flagged": int((~correct & ~kept).sum()), "errors": int((~correct).sum()),
        "target_unflagged_accuracy": 0.995,
    }
    metrics["context_check"] = _context_check(net, pre, val_fields, y_val)
    errors = [{"file": s.rel, "true": classes[t], "predicted": classes[int(p.argmax())],
               "confidence": float(p.max())}
              for s, t, p in zip(val_samples, y_val, probs_cal) if int(p.argmax()) != t]

    return temperature, threshold, metrics, errors


def _recipe_figures(recipe_dir: Path):
    """A refit's calibration and figures: those of the validated run whose recipe it repeated."""
    recipe = read_model_json(recipe_dir)
    metrics = dict(recipe["metrics"])
    metrics["measured_on"] = (f"the recipe run {recipe['name']} {recipe['version']}: the same "
                              "training without the validation blocks; these weights saw every "
                              "image, so they have no held-out figures of their own")
    metrics["recipe"] = {"name": recipe["name"], "version": recipe["version"],
                         "command": recipe["training"].get("command", ""),
                         "split": recipe["training"]["split"],
                         "counts": recipe["training"]["data"]["counts"]}
    return recipe["temperature"], recipe["low_confidence_threshold"], metrics


def export_from_run(run_dir: Path, val_samples=None, y_val=None, val_fields=None,
                    data_dirs: list[str] | None = None) -> Path:
    """``val_fields``: the validation images already resized to the input size (training has
    them); read from the split when not given."""
    import torch

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    if data_dirs:
        relocate_run_data(run, run_dir, data_dirs)
    cfg = run["config"]
    classes = run["classes"]
    pre = PreprocessConfig.from_json(run["preprocess"])
    refit = cfg.get("refit") or ""
    if val_samples is None:
        # A refit has no validation images; a few training fields serve the parity check.
        val_samples, y_val = _val_set(run, run_dir,
                                      *(("train", PARITY_FIELDS) if refit else ("val", None)))
        val_fields = [model_field(read_rgb(s.path), pre) for s in val_samples]
    x_val = preprocess_fields(val_fields, pre)

    net = build_model(len(classes))
    net.load_state_dict(torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True))
    net.eval()
    if refit:
        temperature, threshold, metrics = _recipe_figures(Path(refit))
        errors = metrics.pop("misclassified", [])
    else:
        temperature, threshold, metrics, errors = _validation_figures(net, pre, val_samples, y_val,
                                                                      val_fields, x_val, classes)
    out = run_dir / "model"
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, buf)
    atomic_write_bytes(out / WEIGHTS, buf.getvalue())
    export_onnx(net, pre.input_size, out / ONNX)
    _check_parity(net, out / ONNX, x_val[:PARITY_FIELDS])
    density = _fit_feature_density(out, run, run_dir, pre, val_fields, refit)

    best = run.get("best") or {}
    meta = {
        "name": cfg.get("name", "mobilenetv2-all"), "version": cfg.get("version", "1.0.0"),
        "arch": ARCH_NAME, "classes": classes,
        "display_names": {c: DISPLAY_NAMES.get(c, c) for c in classes},
        **pre.to_json(),
        "resize": "whole field to input_size x input_size, cv2.INTER_AREA (model/preprocessing.py)",
        "temperature": temperature, "low_confidence_threshold": threshold,
        "sha256": sha256_file(out / WEIGHTS), "onnx_sha256": sha256_file(out / ONNX),
        "onnx_outputs": ["logits", "features", "cam"], "onnx_opset": ONNX_OPSET,
        **({"feature_density": density} if density else {}),
        **({"background_range": run["background_range"]} if run.get("background_range") else {}),
        "metrics": {"split": "validation (contiguous blocks)", **metrics, "misclassified": errors},
        "training": {
            "command": cfg.get("command", ""), "device": run.get("device"),
            "minutes": round(run.get("seconds", 0) / 60, 1), "epochs_run": len(run["history"]),
            "best_epoch": best.get("epoch"),
            # Every recipe option (model/recipe.py), its default where the run predates it.
            **{key: recipe_value(cfg, key) for key in RECIPE_OPTIONS},
            "img_size": pre.input_size, "init": cfg.get("init"), "epochs": cfg.get("epochs"),
            "keep": cfg.get("keep", "best"), "refit": refit,
            "distill_teachers": run.get("distill_teachers", []),
            "note": cfg.get("note") or "",
            "data": run["data"], "split": run["split"], "platform": run.get("platform"),
            "python": run.get("python"), "torch": run.get("torch"),
        },
        "seed": cfg.get("seed"), "versions": _versions(),
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    atomic_write_json(out / "model.json", meta)
    confusion_png(metrics["confusion_matrix"], classes, out / "confusion_matrix.png",
                  f"{meta['name']} {meta['version']}: validation confusion matrix (n={metrics['n']})"
                  if not refit else f"recipe run {metrics['recipe']['name']} "
                  f"{metrics['recipe']['version']}: validation confusion matrix (n={metrics['n']})")
    # The split travels with the model dir: fine-tuning from it checks its validation blocks.
    atomic_write_bytes(out / "split.json", (run_dir / "split.json").read_bytes())
    training_curve_png(run["history"], out / "training_curve.png", f"{meta['name']} training")
    atomic_write_bytes(out / "MODEL_CARD.md", render_model_card(meta).encode("utf-8"))
    write_manifest(out)   # last: the model's identity covers every file written above
    return out


def _pooled_features(onnx_path: Path, fields: list[np.ndarray], pre: PreprocessConfig,
                     chunk: int = 64) -> np.ndarray:
    """Pooled features of prepared fields through the exported graph (what inference reads)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = [ood.pool(sess.run(["features"], {"input": preprocess_fields(fields[i:i + chunk], pre)})[0])
           for i in range(0, len(fields), chunk)]
    return np.concatenate(out)


def fit_feature_density(onnx_path: Path, pre: PreprocessConfig, train_fields, y_train,
                        val_fields=None, recipe_record: dict | None = None):
    """Fit the unlike-training detector (model/ood.py) on prepared training fields and set its
    flag threshold: on held-out validation fields when given, else (a refit, which has none)
    from its training fields scaled as ``recipe_record``'s held-out threshold was to its own
    training fields. Returns (density, model.json record without the file's sha256)."""
    train_pooled = _pooled_features(onnx_path, train_fields, pre)
    density = ood.fit(train_pooled, np.asarray(y_train))
    train_q = float(np.quantile(density.distances(train_pooled), ood.FLAGGED_QUANTILE))
    record = {"file": ood.FILENAME, "method": ood.__doc__.strip().splitlines()[0],
              "components": int(density.components.shape[1]), "quantile": ood.FLAGGED_QUANTILE,
              "training_quantile": train_q, "n_train": len(train_fields)}
    if val_fields is not None and len(val_fields):
        val_d = density.distances(_pooled_features(onnx_path, val_fields, pre))
        record["threshold"] = float(np.quantile(val_d, ood.FLAGGED_QUANTILE))
        record["threshold_from"] = f"validation fields (n={len(val_d)})"
    elif recipe_record:
        record["threshold"] = train_q * recipe_record["threshold"] / recipe_record["training_quantile"]
        record["threshold_from"] = ("the training fields, scaled by the held-out ratio (threshold / "
                                    f"training quantile) of {recipe_record.get('measured_on', 'its recipe run')}")
    else:
        return None, None
    return density, record


def _fit_feature_density(out: Path, run: dict, run_dir: Path, pre: PreprocessConfig,
                         val_fields, refit: str) -> dict | None:
    """The detector of a run's model dir, written beside it; None when it cannot be set."""
    train_samples, y_train = _val_set(run, run_dir, "train")
    raws = [read_rgb(s.path) for s in train_samples]
    train_fields = [model_field(rgb, pre) for rgb in raws]
    if pre.white_balance is None:  # a model that reads colours as captured: their range
        from .upgrade import background_range
        found = [b for b, _ in (estimate_background(rgb) for rgb in raws) if b]
        run["background_range"] = background_range(np.array(found)) if found else None
    recipe_record = None
    if refit:
        recipe = read_model_json(Path(refit))
        recipe_record = recipe.get("feature_density")
        if recipe_record:
            recipe_record = dict(recipe_record, measured_on=f"the recipe run {recipe['name']} "
                                                            f"{recipe['version']}")
    density, record = fit_feature_density(out / ONNX, pre, train_fields, y_train,
                                          None if refit else val_fields, recipe_record)
    if density is None:
        log_export("no held-out fields to set the unlike-training threshold; no detector")
        return None
    density.save(out / ood.FILENAME)
    record["sha256"] = sha256_file(out / ood.FILENAME)
    return record


def log_export(msg: str) -> None:
    print(f"export: {msg}", file=sys.stderr)


def _check_parity(net, onnx_path: Path, x: np.ndarray) -> None:
    """Refuse to ship an ONNX graph that disagrees with the torch weights."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    import torch
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": x.astype(np.float32)})[0]
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    diff = float(np.abs(softmax(got) - softmax(ref)).max())
    if diff > 1e-4:
        raise RuntimeError(f"ONNX export disagrees with torch (max probability difference {diff:.2e}).")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m model.export",
                                description="Re-export a model dir from a finished training run.")
    p.add_argument("run_dir")
    p.add_argument("--data-dir", action="append", dest="data_dirs", metavar="DIR",
                   help="this machine's copy of the run's data folder (repeat for several)")
    args = p.parse_args(argv)
    try:
        print(export_from_run(Path(args.run_dir), data_dirs=args.data_dirs))
    except DataError as exc:
        print(f"python -m model.export: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
