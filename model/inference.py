"""The inference engine: loads a verified model dir and turns RGB fields into calibrated probabilities.

Backends:
- ``onnx``: ONNX Runtime on the CPU (3-5x faster than torch eager there, and the clinic build
  ships without torch);
- ``torch``: torch on CUDA when a GPU is present (or on the CPU, for parity checks).

Importing this module imports neither torch nor onnxruntime; each loads when an engine is built.
"""

from __future__ import annotations

import importlib.util
import io
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BackendMissingError, DeviceError, ModelLoadError
from .metrics import softmax
from . import ood
from .manifest import verify_model
from .modeldir import MODEL_JSON, ONNX, WEIGHTS, REQUIRED_KEYS, default_model_dir, read_model_json
from .preprocessing import PreprocessConfig, preprocess


@dataclass
class Predictions:
    probabilities: np.ndarray          # (N, K) calibrated
    cams: np.ndarray | None = None     # (N, K, h, w) raw class activation maps, when asked
    # (N,) feature-space distance to the training fields (model/ood.py); None when the model
    # dir has no feature density (before 2.3.0)
    distances: np.ndarray | None = None


def cuda_driver_present() -> bool:
    """Cheap check for an NVIDIA driver, so a CPU-only PC never pays for importing torch."""
    if platform.system() == "Windows":
        return (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / "nvcuda.dll").exists()
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


class InferenceEngine:
    """Thread-compatible: one engine may be used from one worker thread at a time."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto",
                 backend: str | None = None, threads: int | None = None, batch_size: int = 32):
        if device not in ("auto", "cpu", "cuda"):
            raise DeviceError(f"Unknown device '{device}'; use auto, cpu or cuda.")
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        read_model_json(self.model_dir)           # the folder and model.json: clear messages
        if backend is None:
            backend = self._choose_backend(device)
        if backend not in ("onnx", "torch"):
            raise DeviceError(f"Unknown inference backend '{backend}'.")
        # Every file that affects a call is checked against manifest.json (model/manifest.py);
        # what runs below is the bytes that were checked, and the identity names them all.
        self._verified = verify_model(self.model_dir, backend)
        self.identity = self._verified.identity
        self.meta = self._verified.meta()
        missing = [k for k in REQUIRED_KEYS if k not in self.meta]
        if missing:
            raise ModelLoadError(f"{self.model_dir / MODEL_JSON} is incomplete (missing "
                                 f"{', '.join(missing)}).")
        self.classes: list[str] = list(self.meta["classes"])
        self.display_names: dict[str, str] = dict(self.meta["display_names"])
        self.preprocess_config = PreprocessConfig.from_json(self.meta)
        self.temperature = float(self.meta["temperature"])
        self.low_confidence_threshold = float(self.meta.get("low_confidence_threshold", 0.7))
        self.feature_density, self.unlike_training_threshold = self._load_feature_density()
        # The training fields' background colours (model/upgrade.py): a model that reads colours
        # as captured is unlike itself outside them.
        self.background_range = self.meta.get("background_range")
        self.batch_size = batch_size
        self._lock = threading.Lock()
        if backend == "onnx":
            if device == "cuda":
                raise DeviceError("The ONNX backend runs on the CPU only; use device auto or cpu.")
            self._load_onnx(threads)
        else:
            self._load_torch(device)
        self.backend = backend
        self._verified.contents.clear()             # the checked bytes are loaded; free them

    # -- loading ------------------------------------------------------------------------------
    def _load_feature_density(self):
        """The unlike-training detector of the model dir (model/ood.py), checked like weights."""
        record = self.meta.get("feature_density")
        if not record:
            return None, None
        name = record.get("file", ood.FILENAME)
        path = self.model_dir / name
        data = self._verified.contents.get(name)
        if data is None or record.get("sha256") != self._verified.manifest["files"].get(name):
            raise ModelLoadError(f"The feature density {path} is not the one model.json records; "
                                 "reinstall the model.")
        try:
            density = ood.FeatureDensity.load(io.BytesIO(data))
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{path} cannot be read: {exc}") from exc
        return density, float(record["threshold"])

    def _choose_backend(self, device: str) -> str:
        if device == "cpu":
            return "onnx"
        if device == "cuda":
            if not torch_available():
                raise DeviceError("CUDA was requested, but this installation has no torch (the CPU "
                                  "build). Use --device cpu, or install the CUDA build.")
            return "torch"
        if torch_available() and cuda_driver_present():
            import torch
            if torch.cuda.is_available():
                return "torch"
        return "onnx"

    def _load_onnx(self, threads: int | None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendMissingError("ONNX Runtime is not installed; install onnxruntime to run "
                                      "the model on the CPU.") from None
        path = self.model_dir / ONNX
        if self.meta.get("onnx_sha256") != self._verified.manifest["files"].get(ONNX):
            raise ModelLoadError(f"The model file {path} does not match the checksum model.json "
                                 "records; reinstall the model.")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # No busy-waiting between batches: the pipeline's preparation threads need those cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(self._verified.contents[ONNX], sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a bad graph
            raise ModelLoadError(f"ONNX Runtime could not load {path}: {exc}") from exc
        self.device_label = "CPU: ONNX Runtime"
        self.device = "cpu"

    def _load_torch(self, device: str) -> None:
        try:
            import torch
        except ImportError:
            raise BackendMissingError("torch is not installed; the torch backend is unavailable.") from None
        from .architecture import LogitsFeaturesCam, load_model_dir_net
        if device == "cpu":
            dev = torch.device("cpu")
        elif torch.cuda.is_available():
            dev = torch.device("cuda")
        elif device == "cuda":
            raise DeviceError("CUDA was requested, but torch finds no usable CUDA GPU "
                              "(check the NVIDIA driver). Use --device cpu.")
        else:
            dev = torch.device("cpu")
        net = load_model_dir_net(self.model_dir, self.meta,
                                 self._verified.contents.get(WEIGHTS))
        if dev.type == "cuda":
            # Full fp32 convolutions: the GPU must make the same calls as the CPU build.
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        self._torch = torch
        self._net = LogitsFeaturesCam(net).eval().to(dev)
        self._torch_device = dev
        self.device = dev.type
        self.device_label = (f"CUDA: {torch.cuda.get_device_name(dev)}" if dev.type == "cuda"
                             else "CPU: torch")

    # -- running ------------------------------------------------------------------------------
    @property
    def info(self) -> dict:
        # "sha256" is the model's identity: the hash of its manifest (model/manifest.py), which
        # covers model.json, model.onnx, weights.pt and the feature density.
        return {"name": self.meta["name"], "version": self.meta["version"],
                "sha256": self.identity, "weights_sha256": self.meta["sha256"],
                "classes": self.classes,
                "input_size": self.preprocess_config.input_size, "temperature": self.temperature,
                "low_confidence_threshold": self.low_confidence_threshold,
                "unlike_training_threshold": self.unlike_training_threshold,
                "backend": self.backend, "device": self.device_label,
                "metrics": {k: self.meta.get("metrics", {}).get(k)
                            for k in ("accuracy", "macro_f1", "ece", "n")}}

    def preprocess(self, images: list[np.ndarray]) -> np.ndarray:
        return preprocess(images, self.preprocess_config)

    def run_preprocessed(self, x: np.ndarray, with_cam: bool = False) -> Predictions:
        """x: float32 NCHW from ``preprocess``. Returns calibrated probabilities (and CAMs), and
        the feature distances when the model dir has a feature density."""
        logits, cams, pooled = [], [], []
        with self._lock:
            for i in range(0, len(x), self.batch_size):
                lo, cam, feats = self._forward(x[i:i + self.batch_size], with_cam,
                                               self.feature_density is not None)
                logits.append(lo)
                if with_cam:
                    cams.append(cam)
                if feats is not None:
                    pooled.append(feats)
        if not logits:
            return Predictions(np.zeros((0, len(self.classes))), None)
        probs = softmax(np.concatenate(logits), self.temperature)
        distances = (self.feature_density.distances(np.concatenate(pooled))
                     if pooled else None)
        return Predictions(probs, np.concatenate(cams) if with_cam else None, distances)

    def predict(self, images: list[np.ndarray], with_cam: bool = False) -> Predictions:
        return self.run_preprocessed(self.preprocess(images), with_cam)

    def _forward(self, xb: np.ndarray, with_cam: bool, with_features: bool):
        """(logits, cams or None, pooled features or None) of one batch."""
        if self.backend == "onnx":
            names = ["logits"] + (["cam"] if with_cam else []) + (["features"] if with_features else [])
            out = dict(zip(names, self._session.run(names, {"input": np.ascontiguousarray(xb, np.float32)})))
            return (out["logits"], out.get("cam"),
                    ood.pool(out["features"]) if with_features else None)
        torch = self._torch
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(xb, np.float32)).to(self._torch_device)
            logits, feats, cam = self._net(t)
            return (logits.float().cpu().numpy(), cam.float().cpu().numpy() if with_cam else None,
                    feats.float().mean(dim=(2, 3)).cpu().numpy() if with_features else None)

    def label(self, class_id: str) -> str:
        return self.display_names.get(class_id, class_id)


def normalise_cam(cam: np.ndarray) -> np.ndarray:
    """One class's raw activation map -> [0, 1] float32 (positive evidence only)."""
    cam = np.maximum(np.asarray(cam, np.float32), 0)
    top = float(cam.max())
    return cam / top if top > 0 else cam


def top_class_cam(probabilities: np.ndarray, cams: np.ndarray) -> tuple[np.ndarray, int]:
    """One image's activation map of its most probable class, in [0, 1], and that class's index
    (``probabilities`` (K,), ``cams`` (K, h, w) raw): what the window and the report show."""
    top = int(np.argmax(probabilities))
    return normalise_cam(cams[top]), top
