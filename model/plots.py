"""Small PNG charts for the model dir (confusion matrix, training curve), drawn with Pillow so the
training extra needs no plotting library."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def confusion_png(cm: list[list[int]], labels: list[str], path: Path, title: str) -> None:
    k = len(labels)
    cell, left, top = 90, 190, 70
    img = Image.new("RGB", (left + cell * k + 30, top + cell * k + 80), "white")
    d = ImageDraw.Draw(img)
    f, fs = _font(16), _font(13)
    d.text((10, 10), title, fill="black", font=f)
    d.text((left + cell * k / 2 - 40, top - 25), "predicted", fill="black", font=fs)
    vmax = max(1, max(max(r) for r in cm))
    for i in range(k):
        row_total = max(1, sum(cm[i]))
        d.text((10, top + i * cell + cell / 2 - 8), labels[i], fill="black", font=fs)
        d.text((left + i * cell + 5, top + k * cell + 8), labels[i][:11], fill="black", font=fs)
        for j in range(k):
            v = cm[i][j]
            shade = int(255 - 200 * v / vmax)
            x0, y0 = left + j * cell, top + i * cell
            d.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=(shade, shade, 255))
            colour = "white" if shade < 140 else "black"
            d.text((x0 + 10, y0 + cell / 2 - 16), f"{v}", fill=colour, font=f)
            d.text((x0 + 10, y0 + cell / 2 + 4), f"{100 * v / row_total:.1f}%", fill=colour, font=fs)
    d.text((10, top + k * cell + 40), "rows: true class", fill="black", font=fs)
    img.save(path)


def training_curve_png(history: list[dict], path: Path, title: str) -> None:
    w, h, pad = 720, 420, 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f = _font(13)
    d.text((pad, 12), title, fill="black", font=_font(16))
    d.rectangle([pad, pad, w - pad, h - pad], outline="black")
    if not history:
        img.save(path)
        return
    n = len(history)
    max_loss = max(r["train_loss"] for r in history) or 1.0

    def xy(i, v):
        return (pad + (w - 2 * pad) * (i / max(1, n - 1)), h - pad - (h - 2 * pad) * v)

    series = [("train loss (scaled)", "grey", [r["train_loss"] / max_loss for r in history])]
    if "val_accuracy" in history[0]:  # a refit has no validation curve
        series += [("val accuracy", "blue", [r["val_accuracy"] for r in history]),
                   ("val macro-F1", "red", [r["val_macro_f1"] for r in history])]
    for k, (name, colour, vals) in enumerate(series):
        d.line([xy(i, v) for i, v in enumerate(vals)], fill=colour, width=2)
        d.text((pad + 10 + 170 * k, h - pad + 25), name, fill=colour, font=f)
    for v in (0.0, 0.5, 0.9, 1.0):
        y = xy(0, v)[1]
        d.text((10, y - 7), f"{v:.1f}", fill="black", font=f)
        d.line([(pad, y), (pad + 5, y)], fill="black")
    d.text((w - pad - 60, h - pad + 5), f"epoch {n}", fill="black", font=f)
    img.save(path)
