"""Window state kept in QSettings (an INI file beside settings.json, so LABAPP_CONFIG_DIR isolates it).

Lab details, thresholds and the device live in ``lab_app.core.settings`` (shared with the CLI);
this file holds only what belongs to the window: geometry, dock layout, overlay switches, the
last folder, recent cases, the last technician and the segmentation settings being edited.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger(__name__)

GUI_FILE = "gui.ini"
MAX_RECENT = 8


class GuiState:
    def __init__(self, folder: str | Path | None = None) -> None:
        from lab_app.core.settings import config_dir
        self.path = config_dir(folder) / GUI_FILE
        self.q = QSettings(str(self.path), QSettings.Format.IniFormat)

    def _get(self, key: str, default: Any = None) -> Any:
        return self.q.value(key, default)

    # geometry / dock state
    def geometry(self) -> QByteArray | None:
        v = self._get("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        v = self._get("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    # simple values
    def get_str(self, key: str, default: str = "") -> str:
        v = self._get(key, default)
        return v if isinstance(v, str) else default

    def set_str(self, key: str, value: str) -> None:
        self.q.setValue(key, value)

    def get_bool(self, key: str, default: bool = False) -> bool:
        v = self._get(key, default)
        if isinstance(v, str):
            return v.lower() in ("true", "1", "yes")
        return bool(v)

    def set_bool(self, key: str, value: bool) -> None:
        self.q.setValue(key, bool(value))

    # recent cases: list of case ids, newest first
    def recent_cases(self) -> list[int]:
        raw = self.get_str("cases/recent", "")
        out = []
        for part in raw.split(","):
            if part.strip().isdigit():
                out.append(int(part))
        return out

    def add_recent_case(self, case_id: int) -> None:
        ids = [case_id] + [i for i in self.recent_cases() if i != case_id]
        self.set_str("cases/recent", ",".join(str(i) for i in ids[:MAX_RECENT]))

    # segmentation parameters being edited (JSON)
    def segmentation(self) -> dict | None:
        raw = self.get_str("analysis/segmentation", "")
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            log.info("ignoring damaged segmentation settings in %s", self.path)
            return None
        return data if isinstance(data, dict) else None

    def set_segmentation(self, data: dict) -> None:
        self.set_str("analysis/segmentation", json.dumps(data, sort_keys=True))

    def sync(self) -> None:
        self.q.sync()
