"""Draw the application icon: resources/icons/labapp.ico (16-256 px) and labapp.png (256 px).

    python -m tools.make_icon [--out resources/icons]

The mark is the project's own drawing (no third-party artwork): a rounded tile in the
Wright-Giemsa violet of a stained smear, a pale red blood cell with its central pallor at the
back, and in front a lymphoblast, a large round cell with a deep violet nucleus that fills most of
it and a light nucleolus. Each size is drawn on its own (4x supersampled, then reduced), so the
16 px icon is not a blurred 256 px one: below 32 px the nucleolus and the pallor are left out.

The output is deterministic for a given Pillow version; the files are committed, and the build
uses them (installer/labapp.spec: exe icon; installer/windows/labapp.iss: setup and shortcuts;
installer/build.sh: labapp.png beside the Linux .desktop file).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 96, 128, 256)
PNG_SIZE = 256
SUPERSAMPLE = 4

TILE = (74, 42, 122, 255)          # deep Giemsa violet
TILE_EDGE = (52, 28, 90, 255)
RBC = (232, 120, 122, 255)         # erythrocyte, eosin pink-red
RBC_PALLOR = (246, 184, 180, 255)
CELL = (214, 206, 240, 255)        # lymphoblast cytoplasm, pale blue-violet
NUCLEUS = (112, 52, 160, 255)
NUCLEOLUS = (186, 150, 222, 255)
OUTLINE = (36, 18, 60, 255)


def draw(size: int) -> Image.Image:
    """One icon image of size x size pixels, RGBA."""
    s = size * SUPERSAMPLE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    u = s / 16.0  # drawing unit: 1/16 of the side
    small = size < 32

    # Rounded tile (full bleed at tiny sizes, so the mark stays legible).
    pad = 0 if small else 0.5 * u
    d.rounded_rectangle((pad, pad, s - 1 - pad, s - 1 - pad), radius=3 * u, fill=TILE,
                        outline=TILE_EDGE, width=max(1, round(0.35 * u)))

    # Red cell, back right-top.
    rbc = (8.2 * u, 2.2 * u, 14.0 * u, 8.0 * u)
    d.ellipse(rbc, fill=RBC, outline=OUTLINE, width=max(1, round(0.3 * u)))
    if not small:
        d.ellipse((10.1 * u, 4.1 * u, 12.1 * u, 6.1 * u), fill=RBC_PALLOR)

    # Lymphoblast, front left-bottom: thin rim of cytoplasm around a large nucleus.
    cell = (1.8 * u, 4.6 * u, 12.4 * u, 15.2 * u) if not small else (1.2 * u, 4.2 * u, 12.6 * u, 15.6 * u)
    d.ellipse(cell, fill=CELL, outline=OUTLINE, width=max(1, round(0.35 * u)))
    cx0, cy0, cx1, cy1 = cell
    inset = 1.1 * u
    d.ellipse((cx0 + inset, cy0 + inset * 0.9, cx1 - inset * 0.8, cy1 - inset), fill=NUCLEUS)
    if not small:
        d.ellipse((5.0 * u, 7.6 * u, 7.0 * u, 9.6 * u), fill=NUCLEOLUS)

    return img.resize((size, size), Image.LANCZOS)


def ico_bytes() -> bytes:
    # Pillow writes one ICO entry per size from the largest image it is given; passing each
    # size's own drawing via append_images keeps the small sizes hand-simplified.
    images = [draw(n) for n in ICO_SIZES]
    buf = io.BytesIO()
    images[-1].save(buf, format="ICO", sizes=[(n, n) for n in ICO_SIZES],
                    append_images=images[:-1])
    return buf.getvalue()


def png_bytes() -> bytes:
    buf = io.BytesIO()
    draw(PNG_SIZE).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.make_icon", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "resources" / "icons")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ico, png = args.out / "labapp.ico", args.out / "labapp.png"
    ico.write_bytes(ico_bytes())
    png.write_bytes(png_bytes())
    for f in (ico, png):
        print(f"{f}: {f.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
