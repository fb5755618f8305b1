"""All menu commands and their keyboard shortcuts, in one place.

Review keys (Enter, 1-4, N, M, O, A, ...) are plain keys: they are bound to the review area
(image list, viewer, results table, prediction panel) with ``WidgetWithChildrenShortcut``, so that
typing a patient ID or pressing Enter in a case field never accepts or overrides a call.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from .theme import CLASS_IDS, class_label

# (attribute, text, shortcuts, status tip, review-area only, checkable)
_SPECS: list[tuple[str, str, list, str, bool, bool]] = [
    ("new_case", "&New case", [QKeySequence.StandardKey.New], "Start a new case", False, False),
    ("open_case", "&Open case…", [QKeySequence.StandardKey.Open], "Find and open an earlier case", False, False),
    ("add_images", "Add &images…", ["Ctrl+I"], "Add image files to the case and analyse them", False, False),
    ("add_folder", "Add &folder…", ["Ctrl+Shift+I"], "Add a folder of images (searched recursively)", False, False),
    ("watch_folder", "&Watch a folder for captures…", ["Ctrl+Shift+W"],
     "Analyse each image the camera software saves into a folder, as it arrives", False, True),
    ("camera", "Live ca&mera", ["Ctrl+Shift+C"], "Show the microscope camera; Space captures a field",
     False, True),
    ("export_pdf", "Export PDF &report…", ["Ctrl+P"], "Write the case report as a PDF", False, False),
    ("export_csv", "Export &CSV…", ["Ctrl+E"], "Write one row per image as CSV", False, False),
    ("export_fhir", "Export for the LIS as &FHIR…", [], "Write the results as a FHIR Bundle (JSON)",
     False, False),
    ("export_hl7", "Export for the LIS as &HL7…", [], "Write the results as an HL7 v2.5.1 ORU^R01 message",
     False, False),
    ("sign_off", "&Sign off…", ["Ctrl+Shift+S"], "Sign the case off and lock it", False, False),
    ("preferences", "&Preferences…", [QKeySequence.StandardKey.Preferences, "Ctrl+,"],
     "Lab details, thresholds, device", False, False),
    ("sign_out", "Sign &out…", ["Ctrl+Shift+L"],
     "Sign out so that another person can sign in (with accounts)", False, False),
    ("quit", "&Quit", [QKeySequence.StandardKey.Quit, "Ctrl+Q"], "Close the application", False, False),
    ("analyse", "&Analyse pending images", ["Ctrl+R"], "Analyse the images not analysed yet", False, False),
    ("reanalyse", "&Re-analyse case with current settings", ["Ctrl+Shift+R"],
     "Analyse every image again with the segmentation settings shown", False, False),
    ("cancel", "&Cancel analysis", ["Esc"], "Stop the analysis after the current group of images", False, False),
    ("accept", "&Accept call", ["Return", "Enter"], "Accept the model's call for this image", True, False),
    ("next_undecided", "&Next undecided image", ["N"], "Go to the next image without a decision", True, False),
    ("prev_undecided", "&Previous undecided image", ["Shift+N"], "Go to the previous image without a decision", True, False),
    ("next_flagged", "Next &flagged image", ["G"], "Go to the next image with a flag (wraps around)", True, False),
    ("prev_flagged", "Previous flagged image", ["Shift+G"], "Go to the previous image with a flag", True, False),
    ("next_image", "Next image", ["PgDown"], "Go to the next image in the list", True, False),
    ("prev_image", "Previous image", ["PgUp"], "Go to the previous image in the list", True, False),
    ("reset_decision", "&Undo decision", ["Backspace"], "Set this image's decision back to pending", True, False),
    ("show_mask", "Segmentation &mask", ["M"], "Show the segmentation mask", True, True),
    ("show_outlines", "Cell &outlines with numbers", ["O"], "Show cell outlines and numbers", True, True),
    ("show_cam", "&Activation map", ["A"], "Show where the model looked for its call", True, True),
    ("gallery", "Cell &gallery", ["Ctrl+Shift+G"], "Every cell of the case side by side, grouped by call",
     False, True),
    ("fit", "&Fit to window", ["F"], "Show the whole field", True, False),
    ("zoom_in", "Zoom &in", ["+", "="], "Zoom in", True, False),
    ("zoom_out", "Zoom &out", ["-"], "Zoom out", True, False),
    ("actual_size", "Actual si&ze", ["Ctrl+0"], "One image pixel per screen pixel", True, False),
    ("focus_list", "Go to image &list", ["Ctrl+L"], "Move the keyboard focus to the image list", False, False),
    ("focus_case", "Go to &case fields", ["Ctrl+Shift+P"], "Move the keyboard focus to the patient fields", False, False),
    ("about", "&About…", [], "Version, model card and research-use-only statement", False, False),
    ("shortcuts", "&Keyboard shortcuts", ["F1"], "List the keyboard shortcuts", False, False),
]


class Actions:
    """Attribute per action (see _SPECS) plus ``override`` (one per class, keys 1-4)."""

    def __init__(self, parent: QObject) -> None:
        self.all: list[QAction] = []
        self.review: list[QAction] = []
        for name, text, keys, tip, review, checkable in _SPECS:
            act = QAction(text, parent)
            act.setObjectName(f"action_{name}")
            act.setShortcuts(_unique(keys))
            act.setStatusTip(tip)
            act.setCheckable(checkable)
            setattr(self, name, act)
            self.all.append(act)
            if review:
                act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.review.append(act)
            else:
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.override: list[QAction] = []
        for n, cid in enumerate(CLASS_IDS, start=1):
            act = QAction(f"Override to &{n}  {class_label(cid)}…", parent)
            act.setObjectName(f"action_override_{cid}")
            act.setShortcuts([QKeySequence(str(n))])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.setStatusTip(f"Override the call to {class_label(cid)} (asks for a reason)")
            self.override.append(act)
            self.review.append(act)
            self.all.append(act)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = []
        for act in self.all:
            keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in act.shortcuts())
            if keys:
                rows.append((act.text().replace("&", "").rstrip("…"), keys))
        return rows


def _unique(keys: list) -> list[QKeySequence]:
    """Key sequences without empty ones (a standard key a platform lacks) or repeats."""
    out, seen = [], set()
    for k in keys:
        seq = QKeySequence(k)
        text = seq.toString()
        if text and text not in seen:
            seen.add(text)
            out.append(seq)
    return out
