"""Training augmentation for smear fields, applied to whole uint8 batches in torch.

Fields have no canonical orientation, so flips and 90-degree rotations are free. Random resized
crops teach scale tolerance. Colour jitter stays mild: the stain colour carries real class signal
(Pro fields are pinker), so hue is never shifted. Optional acquisition shifts (another lamp,
camera, stain batch, focus; docs/robustness.md) train the model to hold under them. (Stain
jitter, CutMix and the background swap were tried as augmentations and rejected in
docs/model-development.md.)

The batch may live on any device (on a GPU the whole training set is kept there and augmented in
place). Random numbers always come from the CPU generator in the same order, so a seeded CPU run
is reproducible and a GPU run draws the very same augmentation parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    brightness: float = 0.10
    contrast: float = 0.10
    saturation: float = 0.10
    # Strength (0..1) of the acquisition shifts: lamp, exposure, stain batch, focus, camera,
    # magnification, noise, JPEG (acquisition_shift below; 0 = off, no random numbers drawn).
    acquisition: float = 0.0


def _crop_box(h: int, w: int, cfg: AugmentConfig, g: torch.Generator) -> tuple[int, int, int, int]:
    area = h * w
    for _ in range(10):
        scale = torch.empty(1).uniform_(*cfg.crop_scale, generator=g).item()
        log_r = torch.empty(1).uniform_(torch.log(torch.tensor(cfg.crop_ratio[0])).item(),
                                        torch.log(torch.tensor(cfg.crop_ratio[1])).item(), generator=g)
        ratio = torch.exp(log_r).item()
        cw = int(round((area * scale * ratio) ** 0.5))
        ch = int(round((area * scale / ratio) ** 0.5))
        if 0 < cw <= w and 0 < ch <= h:
            y = int(torch.randint(0, h - ch + 1, (1,), generator=g))
            x = int(torch.randint(0, w - cw + 1, (1,), generator=g))
            return y, x, ch, cw
    return 0, 0, h, w


# Colour deconvolution (Ruifrok and Johnston, the matrix scikit-image calls rgb_from_hed): rows
# are the optical-density colours of the purple-blue nuclear stain, the pink counterstain and
# a residual. Romanowsky smear stains split along the same two axes closely enough to vary
# each stain's amount apart from the other.
_RGB_FROM_STAINS = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
_RGB_FROM_STAINS = _RGB_FROM_STAINS / _RGB_FROM_STAINS.norm(dim=1, keepdim=True)
_STAINS_FROM_RGB = torch.linalg.inv(_RGB_FROM_STAINS)


def augment_batch(batch_uint8_nhwc: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor,
                  cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """uint8 NHWC -> normalised float NCHW (channels_last) of size x size, augmented, on the
    batch's device."""
    n, h, w, _ = batch_uint8_nhwc.shape
    dev = batch_uint8_nhwc.device
    x = batch_uint8_nhwc.permute(0, 3, 1, 2).float().div_(255.0)
    out = torch.empty((n, 3, size, size), device=dev)
    for i in range(n):
        y0, x0, ch, cw = _crop_box(h, w, cfg, g)
        crop = x[i:i + 1, :, y0:y0 + ch, x0:x0 + cw]
        out[i] = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False)[0]
    # Flips and 90-degree rotations (the dihedral group of the square).
    flip = (torch.rand(n, generator=g) < 0.5).to(dev)
    out[flip] = out[flip].flip(-1)
    k = torch.randint(0, 4, (n,), generator=g)
    for r in range(1, 4):
        sel = k == r
        if sel.any():
            sel = sel.to(dev)
            out[sel] = torch.rot90(out[sel], r, dims=(2, 3))
    out = acquisition_shift(out, cfg.acquisition, g)
    # Mild brightness / contrast / saturation jitter, per image.
    def factor(amount: float) -> torch.Tensor:
        return (1 + (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * amount).to(dev)
    out = out * factor(cfg.brightness)
    grey_mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - grey_mean) * factor(cfg.contrast) + grey_mean
    grey = (0.299 * out[:, 0:1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3])
    out = (out - grey) * factor(cfg.saturation) + grey
    out = out.clamp_(0, 1)
    out = (out - mean.to(dev).view(1, 3, 1, 1)) / std.to(dev).view(1, 3, 1, 1)
    return out.contiguous(memory_format=torch.channels_last)


# Acquisition shifts (model/augment.py's share of the robustness work, docs/robustness.md).
# Ranges at strength 1: what a field of another lab's microscope, camera and stain batch looks
# like after colour constancy has taken out most of the lamp colour and exposure.
_GAIN = 0.08            # residual per-channel gain (imperfect white balance), either way
_EXPOSURE = (0.75, 1.15)  # overall gain; over-exposure clips, which no balance undoes
_STAIN_AMOUNT = (0.6, 1.35)  # each stain's optical density scaled (pale or heavy staining)
_HUE_DEG = 8.0          # rotation of the chroma plane (another stain batch's hue), either way
_BLUR_P, _BLUR_SIGMA = 0.25, (0.4, 1.6)    # defocus, px at the input size
_RES_P, _RES_SCALE = 0.15, (0.4, 0.8)      # a lower-resolution camera: down, then up again
_ZOOM_P, _ZOOM_SCALE = 0.15, (0.75, 0.95)  # lower magnification: shrink, mirror the border
_NOISE_P, _NOISE_SIGMA = 0.25, (0.004, 0.04)  # sensor noise, fraction of full scale
_JPEG_P, _JPEG_QUALITY = 0.25, (15, 70)


def _chroma_rotation(theta: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) RGB matrices that rotate hue by theta (radians) about the grey axis."""
    c, s = torch.cos(theta), torch.sin(theta)
    k = 1.0 / 3.0
    r3 = 3 ** 0.5 / 3
    m = torch.empty(len(theta), 3, 3)
    m[:, 0, 0] = c + (1 - c) * k
    m[:, 0, 1] = k * (1 - c) - r3 * s
    m[:, 0, 2] = k * (1 - c) + r3 * s
    m[:, 1, 0] = k * (1 - c) + r3 * s
    m[:, 1, 1] = c + k * (1 - c)
    m[:, 1, 2] = k * (1 - c) - r3 * s
    m[:, 2, 0] = k * (1 - c) - r3 * s
    m[:, 2, 1] = k * (1 - c) + r3 * s
    m[:, 2, 2] = c + k * (1 - c)
    return m


def _gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)
    x = F.pad(img[None], (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k, groups=3)
    return F.conv2d(x, k.transpose(2, 3), groups=3)[0]


def _jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    import cv2
    import numpy as np
    arr = (img.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(arr[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    back = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return torch.from_numpy(np.ascontiguousarray(back)).to(img.device).permute(2, 0, 1).float() / 255


def acquisition_shift(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """Per field, a random acquisition: residual lamp colour and exposure, stain amount and
    hue, then (each with its own probability) lower magnification, defocus, a coarser camera,
    sensor noise and JPEG compression. x: float NCHW in [0, 1]; returns a new tensor, same
    range. The same random numbers are drawn whatever each field gets; strength 0 draws none."""
    if strength <= 0:
        return x
    n, _, h, w = x.shape
    dev = x.device
    s = float(strength)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    gains = uniform(1 - _GAIN * s, 1 + _GAIN * s, n, 3, 1, 1)
    exposure = uniform(1 - (1 - _EXPOSURE[0]) * s, 1 + (_EXPOSURE[1] - 1) * s, n, 1, 1, 1)
    amounts = uniform(1 - (1 - _STAIN_AMOUNT[0]) * s, 1 + (_STAIN_AMOUNT[1] - 1) * s, n, 1, 3)
    theta = uniform(-_HUE_DEG * s, _HUE_DEG * s, n) * (torch.pi / 180)
    draws = torch.rand(n, 5, generator=g)          # which fields get each degradation
    params = torch.rand(n, 5, generator=g)         # and how strongly
    noise_seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=g))

    # Stain amount: scale the optical density along each stain (colour deconvolution).
    od = -torch.log(x.clamp(min=1 / 255)).permute(0, 2, 3, 1).reshape(n, -1, 3)
    stains = od @ _STAINS_FROM_RGB.to(dev)
    od = (stains * amounts.to(dev)) @ _RGB_FROM_STAINS.to(dev)
    out = torch.exp(-od).reshape(n, h, w, 3).permute(0, 3, 1, 2)
    # Hue of the stain batch, then lamp residue and exposure.
    rot = _chroma_rotation(theta).to(dev)
    out = torch.einsum("nij,njhw->nihw", rot, out)
    out = (out * gains.to(dev) * exposure.to(dev)).clamp(0, 1)

    def lerp(k: int, bounds: tuple[float, float]) -> torch.Tensor:
        return bounds[0] + (bounds[1] - bounds[0]) * params[:, k]

    zoom_s, blur_s, res_s = lerp(0, _ZOOM_SCALE), lerp(1, _BLUR_SIGMA), lerp(2, _RES_SCALE)
    noise_s, quality = lerp(3, _NOISE_SIGMA), lerp(4, _JPEG_QUALITY)
    noise_gen = torch.Generator().manual_seed(noise_seed)
    for i in range(n):
        img = out[i]
        if draws[i, 0] < _ZOOM_P * s:
            side = max(8, int(round(h * float(zoom_s[i]))))
            small = F.interpolate(img[None], size=(side, side), mode="bilinear", antialias=True,
                                  align_corners=False)
            pad = h - side
            img = F.pad(small, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2),
                        mode="reflect")[0]
        if draws[i, 1] < _BLUR_P * s:
            img = _gaussian_blur(img, float(blur_s[i]))
        if draws[i, 2] < _RES_P * s:
            side = max(8, int(round(h * float(res_s[i]))))
            img = F.interpolate(F.interpolate(img[None], size=(side, side), mode="bilinear",
                                              antialias=True, align_corners=False),
                                size=(h, w), mode="bilinear", align_corners=False)[0]
        if draws[i, 3] < _NOISE_P * s:
            noise = torch.randn(img.shape, generator=noise_gen).to(dev) * float(noise_s[i])
            img = img + noise
        if draws[i, 4] < _JPEG_P * s:
            img = _jpeg(img, int(quality[i]))
        out[i] = img.clamp(0, 1)
    return out
