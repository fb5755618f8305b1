"""The one preprocessing definition shared by training, evaluation and inference.

Pure numpy + OpenCV so that the clinic build (ONNX Runtime, no torch) runs exactly the same
transform as training did. A model dir's ``model.json`` stores the config it was trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PreprocessConfig:
    input_size: int = 160
    # Per-channel RGB statistics of the training fields (fractions of 255).
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "PreprocessConfig":
        return cls(int(data["input_size"]), tuple(map(float, data["mean"])),
                   tuple(map(float, data["std"])))


def resize_field(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 field to size x size. INTER_AREA: the right filter for shrinking."""
    if rgb.shape[0] == size and rgb.shape[1] == size:
        return rgb
    interp = cv2.INTER_AREA if min(rgb.shape[:2]) >= size else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=interp)


def normalize(batch_uint8_nhwc: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """uint8 NHWC RGB -> float32 NCHW, scaled to [0, 1] and standardised."""
    x = batch_uint8_nhwc.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(cfg.mean, dtype=np.float32)
    x /= np.asarray(cfg.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def preprocess(images: list[np.ndarray], cfg: PreprocessConfig) -> np.ndarray:
    """Evaluation/inference transform: whole field resized to the input size, then normalised."""
    if not images:
        return np.zeros((0, 3, cfg.input_size, cfg.input_size), np.float32)
    batch = np.stack([resize_field(im, cfg.input_size) for im in images])
    return normalize(batch, cfg)
