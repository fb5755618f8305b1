"""MobileNetV2 with a 4-class head, plus the export wrapper that also returns feature maps and CAMs.

Weights are never downloaded: the network is built from torchvision's class, randomly initialised,
and any starting point comes from a local file (``load_init_weights``).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch
from torch import nn
from torchvision.models import MobileNetV2

from .errors import ModelLoadError
from .modeldir import WEIGHTS, verify_file

ARCH_NAME = "mobilenet_v2"


def build_model(num_classes: int, dropout: float = 0.2) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes, dropout=dropout)


class LogitsFeaturesCam(nn.Module):
    """Inference graph: logits, the last feature map, and class activation maps for every class.

    MobileNetV2 ends in global average pooling and one linear layer, so the activation map of
    class k is just W_k . features (no backward pass) and costs almost nothing to export.
    """

    def __init__(self, net: MobileNetV2):
        super().__init__()
        self.features = net.features
        self.linear = net.classifier[-1]

    def forward(self, x: torch.Tensor):
        feats = self.features(x)
        pooled = feats.mean(dim=(2, 3))
        logits = self.linear(pooled)
        cam = torch.einsum("kc,nchw->nkhw", self.linear.weight, feats)
        return logits, feats, cam


def load_model_dir_net(model_dir: Path, meta: dict, data: bytes | None = None) -> MobileNetV2:
    """The network of a model dir (on the CPU, train mode), its weights.pt checked first against
    the sha256 in model.json ``meta``: what inference and distillation teachers run. ``data``:
    the bytes of weights.pt the engine already checked against the manifest."""
    path = Path(model_dir) / WEIGHTS
    if data is None:
        verify_file(model_dir, WEIGHTS, meta["sha256"])
    elif hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise ModelLoadError(f"The model file {path} does not match the checksum model.json "
                             "records; reinstall the model.")
    try:
        state = torch.load(io.BytesIO(data) if data is not None else path, map_location="cpu",
                           weights_only=True)
        net = build_model(len(meta["classes"]))
        net.load_state_dict(state)
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"The weights in {path} do not fit this model: {exc}") from exc
    return net


def _state_dict_from_file(path: Path) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise ModelLoadError(f"Could not read the weights file {path}: {exc}") from exc
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # a training checkpoint
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelLoadError(f"{path} does not hold a state_dict.")
    return obj


def load_init_weights(net: MobileNetV2, path: Path, *, new_head: bool) -> list[str]:
    """Load a local checkpoint (ImageNet MobileNetV2 weights or one of our model dirs).

    The classifier head is taken only when its shape matches; otherwise it stays freshly
    initialised when ``new_head`` is set, and is a clear error when not. Returns skipped keys.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "weights.pt"
    state = _state_dict_from_file(path)
    own = net.state_dict()
    skipped = []
    for key, value in list(state.items()):
        if key not in own:
            skipped.append(key)
            state.pop(key)
        elif own[key].shape != value.shape:
            if key.startswith("classifier") and new_head:
                skipped.append(key)
                state.pop(key)
            else:
                raise ModelLoadError(
                    f"The starting weights in {path} have {value.shape[0]} output classes, not "
                    f"{own[key].shape[0]}. Use --new-head to train a new classifier head."
                    if key.startswith("classifier") else
                    f"The starting weights in {path} do not fit MobileNetV2 ({key}).")
    missing = [k for k in own if k not in state]
    if any(not k.startswith("classifier") for k in missing):
        raise ModelLoadError(f"{path} is not a MobileNetV2 checkpoint (missing {missing[0]}).")
    net.load_state_dict(state, strict=False)
    return skipped
