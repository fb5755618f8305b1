"""Segmentation settings with a live preview on the current image, and re-analysis of the case.

The panel edits a :class:`lab_app.core.segmentation.SegmentationParams` (preset, the main HSV
box, minimum cell size). Every change is debounced and emitted as ``params_changed``; the viewer
re-segments the current field with it. ``reanalyse_requested`` asks the window to run the case
again with these settings.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from lab_app.core.errors import SegmentationError
from lab_app.core.segmentation import (CHANNEL_LIMIT, HUE_LIMIT, PRESET_NAMES, REFERENCE_AREA,
                                       SegmentationParams, preset, stored_params)

CUSTOM = "custom"
DEBOUNCE_MS = 150
# (field, label, maximum)
SPINS = [("hue_min", "Hue from", HUE_LIMIT), ("hue_max", "Hue to", HUE_LIMIT),
         ("sat_min", "Saturation from", CHANNEL_LIMIT), ("sat_max", "Saturation to", CHANNEL_LIMIT),
         ("val_min", "Value from", CHANNEL_LIMIT), ("val_max", "Value to", CHANNEL_LIMIT),
         ("min_cell_area", "Minimum cell size", REFERENCE_AREA)]


class SegmentationPanel(QWidget):
    params_changed = Signal(object)        # SegmentationParams (valid)
    reanalyse_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segmentationPanel")
        self._base = preset("default")
        self._params = self._base
        self._loading = False
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetCombo")
        for name in PRESET_NAMES:
            self.preset_combo.addItem(name, name)
        self.preset_combo.setToolTip("default: works on every stain of the data set; "
                                     "dataset: the data set authors' threshold")
        self.preset_combo.activated.connect(self._preset_chosen)
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(3)
        form.addRow("Preset", self.preset_combo)
        for name, label, maximum in SPINS:
            spin = QSpinBox()
            spin.setRange(0, maximum)
            spin.setObjectName(f"spin_{name}")
            spin.setAccessibleName(label)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._edited)
            if name == "min_cell_area":
                spin.setSuffix(" px at 224 px")
                spin.setToolTip("Smaller stained spots are ignored (sizes refer to a 224 x 224 "
                                "field and scale with the image).")
            elif name.startswith("hue"):
                spin.setToolTip("OpenCV hue, 0-179 (degrees / 2). From > to wraps around red.")
            self.spins[name] = spin
            form.addRow(label, spin)
        self.extra_label = QLabel()
        self.extra_label.setWordWrap(True)
        self.extra_label.setStyleSheet("color: #5f6b76;")
        self.state_label = QLabel()
        self.state_label.setObjectName("segmentationState")
        self.state_label.setWordWrap(True)
        self.preview_label = QLabel()
        self.preview_label.setObjectName("previewCount")
        self.preview_label.setWordWrap(True)
        self.reset_button = QPushButton("Reset to preset")
        self.reset_button.clicked.connect(self.reset_to_preset)
        self.reanalyse_button = QPushButton("Re-analyse case")
        self.reanalyse_button.setObjectName("reanalyseButton")
        self.reanalyse_button.setToolTip("Analyse every image of the case again with these "
                                         "settings (Ctrl+Shift+R)")
        self.reanalyse_button.clicked.connect(self.reanalyse_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.reanalyse_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addLayout(form)
        lay.addWidget(self.extra_label)
        lay.addWidget(self.state_label)
        lay.addWidget(self.preview_label)
        lay.addLayout(buttons)
        lay.addStretch(1)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._emit)
        self.set_params(self._base)

    @property
    def params(self) -> SegmentationParams:
        return self._params

    def set_params(self, params: SegmentationParams) -> None:
        """Show ``params`` (no signal)."""
        self._loading = True
        base_name = params.preset if params.preset in PRESET_NAMES else _base_name(params)
        self._base = preset(base_name)
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(base_name)))
        for name, spin in self.spins.items():
            spin.setValue(int(getattr(params, name)))
        self._params = params
        self._loading = False
        self._describe()

    def _preset_chosen(self) -> None:
        self.set_params(preset(self.preset_combo.currentData()))
        self._timer.start()

    def reset_to_preset(self) -> None:
        self.set_params(preset(self._base.preset))
        self._timer.start()

    def _edited(self) -> None:
        if self._loading:
            return
        values = {name: spin.value() for name, spin in self.spins.items()}
        candidate = replace(self._base, **values)
        if candidate != self._base:
            candidate = replace(candidate, preset=CUSTOM)
        try:
            candidate.validate()
        except SegmentationError as exc:
            self.state_label.setText(f"<span style='color:#c53030'>{exc}</span>")
            return
        self._params = candidate
        self._describe()
        self._timer.start()

    def _emit(self) -> None:
        self.params_changed.emit(self._params)

    def _describe(self) -> None:
        extra = self._base.extra_ranges
        self.extra_label.setText(
            f"The {self._base.preset} preset also keeps {len(extra)} extra colour range"
            f"{'s' if len(extra) != 1 else ''} (pale pink nuclei)." if extra else "")
        if self._params.preset == CUSTOM:
            self.state_label.setText(f"Custom settings based on the <b>{self._base.preset}</b> preset.")
        else:
            self.state_label.setText(f"Preset <b>{self._params.preset}</b>.")

    def set_preview(self, cells: int | None, analysed_cells: int | None = None,
                    same_as_analysis: bool = True) -> None:
        if cells is None:
            self.preview_label.setText("")
            return
        text = f"Preview on this image: <b>{cells}</b> cell{'s' if cells != 1 else ''}"
        if analysed_cells is not None and not same_as_analysis:
            text += f" (analysed with other settings: {analysed_cells})"
        self.preview_label.setText(text)


def _base_name(params: SegmentationParams) -> str:
    """The preset a custom set of parameters most likely came from (by its extra ranges)."""
    for name in PRESET_NAMES:
        if preset(name).extra_ranges == params.extra_ranges:
            return name
    return PRESET_NAMES[0]


def params_from_json(data: dict | None) -> SegmentationParams:
    return stored_params(data)

