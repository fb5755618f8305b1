"""The words and colours the window and the report share (Qt-free): class colours, flag names
and their labels, how a failed image's reason is shown, the mask and heat-map colours.

The window turns the colours into QColor in ``gui/theme.py``; the report into reportlab colours
in ``core/report.py``. A wording changed here changes both.
"""

from __future__ import annotations

# Class colours (hex), one per class id of model.classes.
CLASS_COLOURS = {"Benign": "#4C9F70", "Early": "#E0A030", "Pre": "#3D7CC9", "Pro": "#8E5CB5"}
INK = "#1F2933"          # text, and a call without a class colour

# The segmentation mask as the viewer and the pictures tint it (RGB, and its opacity 0..255).
MASK_RGBA = (0, 200, 255, 110)

# Flag names shared by the CLI, the GUI, the case store and the report.
FLAG_LOW_CONFIDENCE = "low_confidence"
FLAG_NO_CELLS = "no_cells"
FLAG_OUT_OF_SCOPE = "out_of_scope"
FLAG_LOAD_ERROR = "load_error"
FLAG_DAMAGED_FILE = "damaged_file"   # a cut-short file that loaded with its missing part grey
FLAG_OUT_OF_FOCUS = "out_of_focus"   # too little fine detail left for a call (core/focus.py)
FLAG_UNLIKE_TRAINING = "unlike_training"  # far from every training field in feature space (model/ood.py)
FLAG_POOR_CAPTURE = "poor_capture"   # over-exposed, heavily compressed or noisy (core/quality.py)
ALL_FLAGS = (FLAG_LOW_CONFIDENCE, FLAG_NO_CELLS, FLAG_OUT_OF_SCOPE, FLAG_LOAD_ERROR, FLAG_DAMAGED_FILE,
             FLAG_OUT_OF_FOCUS, FLAG_UNLIKE_TRAINING, FLAG_POOR_CAPTURE)

# What the window and the report call each flag (one wording everywhere).
FLAG_LABELS = {FLAG_LOW_CONFIDENCE: "Low confidence", FLAG_NO_CELLS: "No cells found",
               FLAG_OUT_OF_SCOPE: "Out of scope", FLAG_LOAD_ERROR: "Load error",
               FLAG_DAMAGED_FILE: "Damaged file (missing part shown grey)",
               FLAG_OUT_OF_FOCUS: "Out of focus",
               FLAG_UNLIKE_TRAINING: "Unlike the training images",
               FLAG_POOR_CAPTURE: "Poor capture"}


def flag_label(flag: str) -> str:
    return FLAG_LABELS.get(flag, flag.replace("_", " ").capitalize())


def error_reason(name: str, error: str | None) -> str:
    """The reason an image failed, without the file name the loader puts in front."""
    text = error or "The file could not be read."
    if text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    return text[:1].upper() + text[1:]


# What the cell count counts, in the same words in the window, the report and the docs: the
# segmentation outlines stained regions, which are mostly nucleated (white) cells, but a platelet
# clump or a smudge is one region too and touching cells merge into one.
COUNT_NAME = "stained regions"
COUNT_EXPLAINED = ("Stained regions the segmentation outlined: mostly nucleated (white) cells, "
                   "but a platelet clump or a smudge counts as one and touching cells merge "
                   "into one.")


def count_text(n: int | None) -> str:
    """'12 stained regions' / '1 stained region' / '—'."""
    if n is None:
        return "—"
    return f"{n} stained region{'s' if n != 1 else ''}"
