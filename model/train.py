"""``labapp-train``: train or retrain the MobileNetV2 ALL-subtype classifier and export a model dir.

Recipe (torchvision reference style): AdamW, linear warm-up then cosine decay, label smoothing,
early stopping on validation macro-F1 (ties broken by validation NLL), best checkpoint kept,
temperature fitted on the validation split, then export (``model.export``).

Shape (torchvision's classification reference): ``build_splits`` and ``build_training_data``
(the split and the stored fields), ``build_network``, ``train_one_epoch``, ``evaluate``,
``save_checkpoint``/``load_checkpoint`` (--resume), ``train`` (the run, then the export) and
``main`` (the CLI). torch is the [train] extra: without it, importing this module still works
and ``main`` says what to install.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .classes import CLASS_IDS
from .data import (Sample, block_split, deduplicate, file_list_hash, read_rgb,
                   recorded_data_hashes, scan_folder_dataset)
from .atomic import atomic_write_bytes, atomic_write_json
from .errors import DataError, DeviceError, ModelError, RemovedOptionError
from .metrics import classification_report, softmax
from .modeldir import read_model_json
from .preprocessing import PreprocessConfig, model_field, preprocess_fields
from .recipe import (DEFAULT_COLOR_JITTER, DEFAULT_WEIGHT_DECAY, RECIPE_OPTIONS, REMOVED_OPTIONS,
                     recipe_value, removed_options_used)
from .white_balance import estimate_background

try:
    import torch
except ImportError:  # labapp-train without the [train] extra: main() says what to install
    torch = None
else:
    import torch.nn.functional as F
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from .architecture import build_model, load_init_weights
    from .augment import AugmentConfig, augment_batch
    from .export import PARITY_FIELDS, export_from_run

DEFAULT_IMG_SIZE = 160
STORE_FACTOR = 1.4  # training images are kept at 1.4x the input size so crops keep detail


@dataclass
class TrainConfig:
    data_dirs: list[str]
    out: str
    epochs: int = 60
    img_size: int | None = None   # None: the starting model's input size, else 160
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    label_smoothing: float = 0.05
    warmup_epochs: int = 2
    patience: int = 15
    device: str = "auto"
    seed: int = 0
    split_seed: int = 0          # picks the validation blocks; apart from seed, so seeds share a split
    init: str = "none"
    new_head: bool = False
    color_jitter: float = DEFAULT_COLOR_JITTER
    ema: float = 0.0             # decay of the weight average that is validated and kept (0 = off)
    white_balance: bool = False  # colour constancy in the preprocessing (model/white_balance.py)
    acquisition: float = 0.0     # strength of the acquisition-shift augmentation (model/augment.py)
    keep: str = "best"           # "best" (early stopping on validation) or "last" (fixed epochs)
    refit: str = ""              # model dir of a validated --keep last run: repeat its recipe on every image
    split: str = ""              # a split.json to reproduce instead of drawing blocks
    fold: tuple[int, int] | None = None  # (i, k): fold i of a k-fold block cross-validation
    resume: bool = False
    val_fraction: float = 0.2
    val_blocks: int = 10
    gap: int = 2
    max_minutes: float | None = None
    name: str = "mobilenetv2-all"
    version: str = "1.0.0"
    threads: int | None = None
    note: str = ""               # free text for the model card (e.g. an earlier training stage)
    command: str = ""
    extra: dict = field(default_factory=dict)


def pick_device(requested: str):
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        raise DeviceError("CUDA was requested but no CUDA GPU is available to torch. "
                          "Use --device cpu or auto.")
    return torch.device("cpu")


def _load_store(samples: list[Sample], store_size: int, pre: PreprocessConfig) -> np.ndarray:
    """The training fields at store size, through the same colour constancy as inference."""
    out = np.empty((len(samples), store_size, store_size, 3), np.uint8)
    store_pre = PreprocessConfig(store_size, pre.mean, pre.std, pre.white_balance)
    for i, s in enumerate(samples):
        out[i] = model_field(read_rgb(s.path), store_pre)
    return out


def _reference_background(samples: list[Sample]) -> tuple[float, float, float]:
    """The training fields' typical background colour: the per-channel median of their own
    background estimates (fields without a usable background do not vote)."""
    found = [b for b, _ in (estimate_background(read_rgb(s.path)) for s in samples) if b]
    if not found:
        raise DataError("None of the training images shows a usable bright background, so the "
                        "colour constancy has no reference; train without --white-balance.")
    return tuple(float(v) for v in np.median(np.array(found), axis=0))


def _collect(cfg: TrainConfig, init_classes: tuple[str, ...] | None):
    known = init_classes if (init_classes and not cfg.new_head) else CLASS_IDS
    samples: list[Sample] = []
    for d in cfg.data_dirs:
        samples += scan_folder_dataset(Path(d), known, allow_new_classes=cfg.new_head or init_classes is None)
    samples, dropped = deduplicate(samples)
    found = tuple(c for c in known if any(s.class_id == c for s in samples)) + tuple(
        sorted({s.class_id for s in samples} - set(known)))
    if init_classes and not cfg.new_head and set(found) - set(init_classes):
        raise DataError(f"The data has classes {sorted(set(found) - set(init_classes))} that the "
                        f"starting model does not know. Use --new-head to train a new head.")
    classes = tuple(init_classes) if (init_classes and not cfg.new_head) else found
    if len(classes) < 2:
        raise DataError("Training needs images of at least two classes.")
    return samples, dropped, classes


def _split_from_file(path: Path, samples: list[Sample]):
    """Reproduce a written split: its train and val lists; images in neither are left out."""
    try:
        split = json.loads(path.read_text())
        train_rel, val_rel = set(split["train"]), set(split["val"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a readable split.json with train and val lists ({exc}).") from exc
    have = {s.rel for s in samples}
    missing = sorted((train_rel | val_rel) - have)
    if missing:
        raise DataError(f"{len(missing)} images of {path} are not in the data folders "
                        f"(first: {missing[0]}).")
    split = dict(split, reproduced_from=str(path))
    return ([s for s in samples if s.rel in train_rel], [s for s in samples if s.rel in val_rel], split)


def _refuse_validation_seen_by_init(init: str, train_s: list[Sample], val_s: list[Sample]):
    """A starting model must not have trained on this run's validation images: its figures
    would be inflated without any warning. A refit starting model trained on every image of its
    data, so no split avoids them: those images move to training and the rest validate.
    Returns (train, val)."""
    split_file = Path(init) / "split.json" if init not in ("none", "") else None
    if split_file is None or not split_file.is_file():
        return train_s, val_s
    init_split = json.loads(split_file.read_text())
    seen = set(init_split.get("train", []))
    overlap = [s.rel for s in val_s if s.rel in seen]
    if overlap and init_split.get("refit"):
        kept = [s for s in val_s if s.rel not in seen]
        if not kept:
            raise DataError(f"The starting model {init} was trained on every image of this data, so "
                            "none of it can validate the new model. Add labelled images it has not "
                            "seen (for example the lab's own).")
        log(f"{len(overlap)} validation images were training images of the refit starting model; "
            f"they train instead, {len(kept)} new images validate")
        return train_s + [s for s in val_s if s.rel in seen], kept
    if overlap:
        raise DataError(
            f"{len(overlap)} of this run's validation images (first: {overlap[0]}) were training "
            f"images of the starting model {init}, so the validation figures would be inflated. "
            f"Use the starting model's split: --split-seed {init_split.get('seed', 0)}.")
    return train_s, val_s


# What a refit must repeat of its validated recipe: model.json "training" keys -> config fields.
_REFIT_REPEATS = {**{key: key for key in RECIPE_OPTIONS if key not in REMOVED_OPTIONS},
                  "epochs_run": "epochs"}


def _refit_recipe(cfg: TrainConfig, samples: list[Sample]) -> dict:
    """The model.json of the validated run a refit repeats, after checking the recipe matches.

    A refit trains on every image, so nothing is left to validate, calibrate or pick an epoch
    with: it repeats a recipe whose fixed-epoch result was measured on a block split, and carries
    that run's figures, temperature and flag threshold, labelled as the recipe's."""
    recipe = read_model_json(Path(cfg.refit))
    t = recipe.get("training", {})
    if t.get("keep", "best") != "last":
        raise DataError(f"{cfg.refit} kept its best validation epoch, so its figures are not those "
                        "of a fixed number of epochs. Train the recipe with --keep last first.")
    if t.get("refit"):
        raise DataError(f"{cfg.refit} is itself a refit; give the validated run it repeated.")
    if t.get("epochs") is not None and t.get("epochs_run") != t["epochs"]:
        raise DataError(f"{cfg.refit} stopped after {t.get('epochs_run')} of its {t['epochs']} "
                        "epochs, so it did not run its whole schedule; finish it with --resume "
                        "and export it again.")
    removed = removed_options_used(t)
    if removed:
        used = ", ".join(f"--{key.replace('_', '-')} {value:g}" for key, value in removed.items())
        raise RemovedOptionError(
            f"The recipe {cfg.refit} was trained with {used}, a training option labapp-train no "
            "longer has (tried and rejected in docs/model-development.md), so a refit cannot "
            "repeat it. Refit a recipe trained without it, or use the labapp-train of the commit "
            "named in research/README.md.")
    for key, field_name in _REFIT_REPEATS.items():
        theirs = recipe_value(t, key)
        if theirs != getattr(cfg, field_name):
            raise DataError(f"The refit must repeat the recipe of {cfg.refit}, which used "
                            f"{field_name.replace('_', '-')} {theirs}; this run asks for "
                            f"{getattr(cfg, field_name)}.")
    if Path(str(t.get("init") or "none")).name != Path(cfg.init).name:
        raise DataError(f"The refit must start where the recipe {cfg.refit} started "
                        f"(--init {t.get('init')}), not from {cfg.init}.")
    if file_list_hash(samples) not in recorded_data_hashes(t.get("data", {})):
        raise DataError(f"The recipe {cfg.refit} was validated on other images than these; "
                        "a refit must use the same data.")
    return recipe


# --- data: splits, the training store, the validation fields --------------------------------
@dataclass
class Splits:
    """The de-duplicated images and the run's training and validation lists (split.json)."""
    samples: list[Sample]
    dropped: list
    classes: tuple[str, ...]
    train: list[Sample]
    val: list[Sample]
    split: dict


def _starting_model(cfg: TrainConfig) -> dict | None:
    """The --init model dir's model.json (None from scratch or from a bare checkpoint); fills in
    the input size from it when --img-size was not given."""
    init_meta = None
    if cfg.init not in ("none", ""):
        init_json = Path(cfg.init) / "model.json" if Path(cfg.init).is_dir() else None
        if init_json and init_json.exists():
            init_meta = read_model_json(Path(cfg.init))
    if cfg.img_size is None:
        cfg.img_size = int(init_meta["input_size"]) if init_meta else DEFAULT_IMG_SIZE
    return init_meta


def build_splits(cfg: TrainConfig, init_classes: tuple[str, ...] | None) -> Splits:
    """Every image of the data folders, split into training and validation: every image for a
    refit, a reproduced split.json, or validation blocks (fold I of K)."""
    samples, dropped, classes = _collect(cfg, init_classes)
    if cfg.refit:
        if cfg.fold:
            raise DataError("A refit trains on every image, so it has no fold; leave out --fold.")
        cfg.keep = "last"
        recipe = _refit_recipe(cfg, samples)
        train_s, val_s = list(samples), []
        split = {"protocol": "none: a refit trains on every image", "refit": True,
                 "recipe": f"{recipe['name']} {recipe['version']}",
                 "train": [s.rel for s in samples], "val": []}
    elif cfg.split:
        if cfg.fold:
            raise DataError("--fold draws its own validation blocks; it cannot be combined with --split.")
        train_s, val_s, split = _split_from_file(Path(cfg.split), samples)
    else:
        train_s, val_s, split = block_split(samples, cfg.val_fraction, cfg.val_blocks,
                                            cfg.split_seed, cfg.gap, fold=cfg.fold)
    if not cfg.refit:
        if not train_s or not val_s:
            raise DataError("Too few images for a training/validation split (need a few per class).")
        train_s, val_s = _refuse_validation_seen_by_init(cfg.init, train_s, val_s)
        split["train"], split["val"] = [s.rel for s in train_s], [s.rel for s in val_s]
    # By content too, so labapp-eval recognises the training images under any name.
    split["train_sha256"] = sorted({s.sha256 for s in train_s})
    return Splits(samples, dropped, classes, train_s, val_s, split)


@dataclass
class TrainingData:
    """What the epochs read: the stored training fields and the prepared validation fields."""
    pre: PreprocessConfig        # the model's preprocessing (recorded in model.json)
    x_store: np.ndarray          # uint8 N x S x S x 3 training fields at STORE_FACTOR x input size
    y_train: np.ndarray
    val_fields: list[np.ndarray]  # validation fields as the model sees them (a refit: a few training ones)
    x_val: np.ndarray            # ... normalised
    y_val: np.ndarray


def build_training_data(cfg: TrainConfig, splits: Splits, init_meta: dict | None) -> TrainingData:
    """Load the training store and the validation fields through the model's preprocessing."""
    cls_index = {c: i for i, c in enumerate(splits.classes)}
    train_s, val_s = splits.train, splits.val
    store_size = int(round(cfg.img_size * STORE_FACTOR))
    reference = None
    if init_meta is not None and init_meta.get("white_balance") is not None:
        # Fine-tuning keeps the colour constancy the starting weights were trained with.
        cfg.white_balance = True
        reference = tuple(init_meta["white_balance"])
    elif cfg.white_balance:
        reference = _reference_background(train_s)
        log("colour constancy: reference background " + ", ".join(f"{v:.1f}" for v in reference))
    x_store = _load_store(train_s, store_size, PreprocessConfig(cfg.img_size, white_balance=reference))
    y_train = np.array([cls_index[s.class_id] for s in train_s])
    mean = tuple(float(v) for v in (x_store.reshape(-1, 3).mean(0) / 255.0))
    std = tuple(float(v) for v in (x_store.reshape(-1, 3).std(0) / 255.0))
    pre = PreprocessConfig(cfg.img_size, mean, std, reference)
    if init_meta is not None:
        # Fine-tuning keeps the normalisation the starting weights were trained with.
        pre = PreprocessConfig(cfg.img_size, tuple(init_meta["mean"]), tuple(init_meta["std"]),
                               reference)
    # Held at the input size (what the model sees), so camera-size images stay small in memory;
    # export reuses them for calibration and the context check. A refit has no validation: a few
    # training fields serve the ONNX parity check.
    val_fields = [model_field(read_rgb(s.path), pre)
                  for s in (train_s[:PARITY_FIELDS] if cfg.refit else val_s)]
    x_val = preprocess_fields(val_fields, pre)
    y_val = np.array([cls_index[s.class_id] for s in val_s])
    return TrainingData(pre, x_store, y_train, val_fields, x_val, y_val)


# --- the network, one epoch, validation ------------------------------------------------------
def build_network(cfg: TrainConfig, n_classes: int, device, init_meta: dict | None):
    """(net, ema, optimizer): the network on the device (from --init if given), the weight
    average when --ema is set, AdamW."""
    net = build_model(n_classes)
    if init_meta is not None or cfg.init not in ("none", ""):
        skipped = load_init_weights(net, Path(cfg.init), new_head=cfg.new_head)
        log(f"started from {cfg.init}" + (f" (new head; skipped {len(skipped)} tensors)" if skipped else ""))
    net = net.to(device).to(memory_format=torch.channels_last)
    # An exponential moving average of the weights (BatchNorm statistics included): validation
    # then scores a smoothed model rather than whichever step an epoch happened to end on.
    ema = None
    if cfg.ema > 0:
        ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return net, ema, opt


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _progress(iterable, total: int, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr,
                disable=not sys.stderr.isatty())


def train_one_epoch(cfg: TrainConfig, net, ema, opt, x_store_dev, y_train: np.ndarray,
                    aug: AugmentConfig, mean_t, std_t, g, state: dict, epoch: int, device) -> float:
    """One pass over the training store in a random order (from ``g``): each batch gathered and
    augmented on the device, one AdamW step at the scheduled learning rate, the weight average
    updated. Advances state["step"]; returns the mean training loss."""
    steps_per_epoch = math.ceil(len(y_train) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    # bf16 autocast on a GPU roughly halves step time; the CPU path stays plain fp32.
    use_amp = device.type == "cuda"
    net.train()
    perm = torch.randperm(len(y_train), generator=g).numpy()
    losses = []
    for b in _progress(range(steps_per_epoch), steps_per_epoch, f"epoch {epoch}/{cfg.epochs}"):
        idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        if len(idx) < 2:
            continue
        idx_dev = torch.from_numpy(idx).to(device)
        xb = augment_batch(x_store_dev[idx_dev], cfg.img_size, mean_t, std_t, aug, g)
        yb = torch.from_numpy(y_train[idx]).to(device)
        for pg in opt.param_groups:
            pg["lr"] = _lr_at(state["step"], total_steps, warmup_steps, cfg.lr)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = F.cross_entropy(net(xb), yb, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.update_parameters(net)
        losses.append(loss.detach())  # no device sync per step
        state["step"] += 1
    return float(torch.stack(losses).float().mean()) if losses else float("nan")


def _evaluate_logits(net, x_val: np.ndarray, device, batch: int = 128) -> np.ndarray:
    net.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x_val), batch):
            xb = torch.from_numpy(x_val[i:i + batch]).to(device).contiguous(memory_format=torch.channels_last)
            outs.append(net(xb).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 1), np.float32)


def evaluate(net, x_val: np.ndarray, y_val: np.ndarray, classes: tuple[str, ...], device) -> dict:
    """Validation accuracy, macro-F1 and NLL (what early stopping compares)."""
    probs = softmax(_evaluate_logits(net, x_val, device))
    rep = classification_report(y_val, probs, list(classes))
    val_nll = float(-np.mean(np.log(np.clip(probs[np.arange(len(y_val)), y_val], 1e-12, None))))
    return {"val_accuracy": rep["accuracy"], "val_macro_f1": rep["macro_f1"], "val_nll": val_nll}


def _improved(row: dict, best: dict | None, keep: str) -> bool:
    """Keep this epoch? Always with --keep last; else a better macro-F1, ties to the lower NLL."""
    return (keep == "last" or best is None
            or (row["val_macro_f1"], -row["val_nll"]) > (best["val_macro_f1"], -best["val_nll"]))


# --- checkpoints -------------------------------------------------------------------------------
def _state_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_checkpoint(path: Path, net, opt, g, state: dict, ema) -> None:
    """checkpoint_last.pt: weights, optimizer, the augmentation generator and the run's state,
    so --resume continues with the very random numbers an uninterrupted run would draw."""
    ckpt = {"model": net.state_dict(), "optimizer": opt.state_dict(), "generator": g.get_state(),
            "state": state}
    if ema is not None:
        ckpt["ema"] = ema.state_dict()
    atomic_write_bytes(path, _state_bytes(ckpt))


def load_checkpoint(path: Path, net, opt, g, ema) -> dict:
    """Restore what save_checkpoint wrote; returns the run's state."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    g.set_state(ck["generator"])
    if ema is not None and "ema" in ck:
        ema.load_state_dict(ck["ema"])
    return ck["state"]


def _save_kept(path: Path, kept_net) -> None:
    """best.pt: the weights export turns into the model dir (the average with --ema)."""
    atomic_write_bytes(path, _state_bytes({k: v.detach().cpu() for k, v in kept_net.state_dict().items()}))


# --- the run -----------------------------------------------------------------------------------
def _setup(cfg: TrainConfig):
    """Threads, seeds and determinism; returns the training device."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    device = pick_device(cfg.device)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
    return device


def _run_record(cfg: TrainConfig, splits: Splits, pre: PreprocessConfig, state: dict, device,
                seconds: float) -> dict:
    """run.json: the config, the history and what export and the model card need."""
    train_s, val_s = splits.train, splits.val
    return {
        "config": {k: v for k, v in cfg.__dict__.items() if k != "extra"},
        "classes": list(splits.classes), "preprocess": pre.to_json(), "history": state["history"],
        "best": state["best"], "device": str(device) if device.type == "cpu" else
        f"cuda ({torch.cuda.get_device_name(0)}), bf16 autocast, augmentation on the GPU",
        "seconds": seconds, "torch": torch.__version__,
        "data": {
            "dirs": [str(Path(d).resolve().name) for d in cfg.data_dirs],
            "counts": {c: {"train": sum(s.class_id == c for s in train_s),
                           "val": sum(s.class_id == c for s in val_s)} for c in splits.classes},
            "duplicates_dropped": len(splits.dropped), "n_unique": len(splits.samples),
            "file_list_sha256": file_list_hash(splits.samples),
        },
        "split": {k: v for k, v in splits.split.items() if k not in ("train", "val")},
        "refit_recipe": str(cfg.refit) if cfg.refit else None,
        "platform": platform.platform(), "python": platform.python_version(),
    }


def train(cfg: TrainConfig) -> Path:
    """A whole run: split, store, epochs (resumable) with validation and checkpoints, run.json,
    then the model dir (model/export.py). Returns the model dir."""
    t_start = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    device = _setup(cfg)
    init_meta = _starting_model(cfg)
    splits = build_splits(cfg, tuple(init_meta["classes"]) if init_meta else None)
    atomic_write_json(out / "split.json", splits.split)
    log(f"{len(splits.samples)} unique images ({len(splits.dropped)} duplicates dropped); "
        f"train {len(splits.train)}, validation {len(splits.val)}; classes "
        f"{', '.join(splits.classes)}; device {device}")
    data = build_training_data(cfg, splits, init_meta)
    pre = data.pre

    net, ema, opt = build_network(cfg, len(splits.classes), device, init_meta)
    kept_net = ema.module if ema is not None else net
    g = torch.Generator().manual_seed(cfg.seed)
    mean_t, std_t = torch.tensor(pre.mean), torch.tensor(pre.std)
    aug = AugmentConfig(brightness=cfg.color_jitter, contrast=cfg.color_jitter,
                        saturation=cfg.color_jitter, acquisition=cfg.acquisition)
    # The training store lives on the training device (about 0.6 GB at 224 px on a GPU), so a
    # batch is gathered and augmented there with no host-to-device copy per step.
    x_store_dev = torch.from_numpy(data.x_store).to(device)

    state = {"epoch": 0, "history": [], "best": None, "step": 0}
    ckpt_path = out / "checkpoint_last.pt"
    if cfg.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, net, opt, g, ema)
        log(f"resumed after epoch {state['epoch']}")
    # Wall-clock time of the whole run, across interrupted processes, for the model card.
    # Checkpoints from before this was recorded know only their epochs' own times.
    seconds_before = state.get("seconds", sum(r.get("seconds", 0.0) for r in state["history"]))

    bad_epochs = 0 if state["best"] is None else state["epoch"] - state["best"]["epoch"]
    for epoch in range(state["epoch"] + 1, cfg.epochs + 1):
        t0 = time.time()
        row = {"epoch": epoch, "train_loss": train_one_epoch(
            cfg, net, ema, opt, x_store_dev, data.y_train, aug, mean_t, std_t, g, state, epoch, device)}
        if splits.val:
            row.update(evaluate(kept_net, data.x_val, data.y_val, splits.classes, device))
        row["seconds"] = time.time() - t0
        state["history"].append(row)
        if _improved(row, state["best"], cfg.keep):
            state["best"] = dict(row)
            _save_kept(out / "best.pt", kept_net)
            bad_epochs = 0
        else:
            bad_epochs += 1
        state["epoch"] = epoch
        state["seconds"] = seconds_before + time.time() - t_start
        save_checkpoint(ckpt_path, net, opt, g, state, ema)
        log(f"epoch {epoch:3d}  loss {row['train_loss']:.4f}  "
            + (f"val acc {row['val_accuracy']:.4f}  macro-F1 {row['val_macro_f1']:.4f}  "
               f"nll {row['val_nll']:.4f}  " if splits.val else "")
            + f"({row['seconds']:.0f}s)" + ("  *" if bad_epochs == 0 and cfg.keep == "best" else ""))
        if bad_epochs >= cfg.patience and cfg.keep == "best":
            log(f"early stop: no better validation macro-F1 for {cfg.patience} epochs")
            break
        if cfg.max_minutes and (time.time() - t_start) / 60 > cfg.max_minutes:
            log(f"stopping: time budget of {cfg.max_minutes} min used")
            break

    atomic_write_json(out / "run.json", _run_record(cfg, splits, pre, state, device,
                                                    seconds_before + time.time() - t_start))
    if cfg.refit and state["epoch"] < cfg.epochs:
        raise DataError(f"The refit stopped after {state['epoch']} of the recipe's {cfg.epochs} "
                        "epochs (--max-minutes), so it is not exported. Run the same command with "
                        "--resume to finish it.")
    model_dir = export_from_run(out, splits.val, data.y_val, data.val_fields)
    log(f"model dir written: {model_dir}")
    return model_dir


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _fold(text: str) -> tuple[int, int]:
    try:
        i, k = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: give the fold as I/K, e.g. 2/5") from None
    if not (k >= 2 and 1 <= i <= k):
        raise argparse.ArgumentTypeError(f"{text}: I must be 1 to K, and K at least 2")
    return i, k


def _fraction(low_open: bool):
    def number(text: str) -> float:
        value = float(text)
        if not (0.0 <= value < 1.0 if low_open else 0.0 <= value <= 1.0):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: give a number from 0 to "
                + ("just below 1, e.g. 0.995" if low_open else "1"))
        return value
    return number


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labapp-train", description=(
        "Train (or retrain) the ALL-subtype classifier on folders with one sub-folder per class, "
        "and write a model dir that labapp and labapp-batch accept with --model."))
    p.add_argument("data_dirs", nargs="+", metavar="DATA_DIR",
                   help="class folders (Benign, Early, Pre, Pro or display names); several are mixed, "
                        "e.g. a lab's own images plus the original data")
    p.add_argument("--out", required=True, help="output folder (run files + model/)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--img-size", type=int, default=None,
                   help=f"input size in pixels (default: the --init model's, else {DEFAULT_IMG_SIZE})")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=DEFAULT_WEIGHT_DECAY)
    p.add_argument("--patience", type=int, default=15, help="early stopping patience in epochs")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=int, default=0, help="training seed (initial weights, batches, augmentation)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed that picks the validation blocks (default 0, the bundled model's split)")
    p.add_argument("--init", default="none",
                   help="'none' (from scratch) or a local checkpoint / model dir to start from")
    p.add_argument("--new-head", action="store_true",
                   help="allow a different class set than the starting model (new classifier head)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint_last.pt")
    p.add_argument("--ema", type=_fraction(low_open=True), default=0.0, metavar="DECAY",
                   help="validate and keep an exponential moving average of the weights with this "
                        "per-step decay (e.g. 0.995; 0 = off, the raw weights)")
    p.add_argument("--color-jitter", type=_fraction(low_open=False), default=TrainConfig.color_jitter,
                   metavar="AMOUNT",
                   help="amplitude of the per-field brightness, contrast and saturation jitter "
                        "(0.1: factors 0.9-1.1; hue is never shifted)")
    p.add_argument("--white-balance", action="store_true",
                   help="colour constancy: balance every field to the training data's background "
                        "colour before the model sees it (recorded in model.json)")
    p.add_argument("--acquisition", type=_fraction(low_open=False), default=0.0, metavar="S",
                   help="strength 0..1 of the acquisition-shift augmentation: lamp, exposure, "
                        "stain, focus, camera, magnification, noise, JPEG (default 0: off)")
    p.add_argument("--keep", choices=["best", "last"], default="best",
                   help="keep the epoch with the best validation macro-F1 (early stopping), or the "
                        "last epoch of a fixed schedule (what a --refit repeats)")
    p.add_argument("--refit", default="", metavar="RECIPE_MODEL_DIR",
                   help="train on every image (no validation split), repeating the recipe of this "
                        "validated --keep last model dir; its validation figures, temperature and "
                        "flag threshold are carried over and labelled as the recipe's")
    p.add_argument("--split", default="", metavar="SPLIT_JSON",
                   help="reproduce the train/validation lists of a run's split.json instead of "
                        "drawing blocks")
    p.add_argument("--fold", type=_fold, default=None, metavar="I/K",
                   help="fold I of a K-fold block cross-validation (e.g. 2/5): the K folds of one "
                        "--split-seed validate every block once; pool them with labapp-crossval")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--val-blocks", type=int, default=10, help="contiguous blocks per class")
    p.add_argument("--gap", type=int, default=2, help="training images left out beside each validation block")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much time, keep the best")
    p.add_argument("--name", default="mobilenetv2-all")
    p.add_argument("--model-version", dest="version", default="1.0.0")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--note", default="", help="free text recorded in the model card")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if torch is None:
        print("labapp-train needs torch and torchvision: pip install '.[train]'", file=sys.stderr)
        return 2
    try:
        cfg = TrainConfig(**vars(args))
        cfg.command = "labapp-train " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        train(cfg)
    except ModelError as exc:
        print(f"labapp-train: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("labapp-train: interrupted; resume with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
