"""Lab and analysis settings shared by the CLI and the GUI (window state lives in QSettings).

Both are kept in one JSON file, ``settings.json``, in the per-user config folder
(platformdirs ``user_config_dir("ALL-Workstation")``; ``LABAPP_CONFIG_DIR`` overrides it for tests
and portable installs)::

    {"format": 1, "lab": {...LabSettings...}, "analysis": {...AnalysisSettings...}}

Unknown keys are ignored (a newer version may add some), missing keys take their defaults, and a
value of the wrong type or outside its range raises :class:`SettingsError` with a sentence naming
the file and the field. Saving is atomic (:mod:`model.atomic`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from model.atomic import atomic_write_text

from .errors import LabAppError

APP_DIR_NAME = "ALL-Workstation"
CONFIG_ENV = "LABAPP_CONFIG_DIR"
SETTINGS_FILE = "settings.json"
SETTINGS_FORMAT = 1

PAGE_SIZES = ("A4", "Letter")
DEVICES = ("auto", "cpu", "cuda")


class SettingsError(LabAppError):
    """The settings file is unreadable or holds an invalid value."""


@dataclass
class LabSettings:
    """Who the lab is and how it signs and prints reports."""
    name: str = ""
    address: str = ""                 # free text; newlines separate the printed lines
    logo_path: str | None = None      # PNG/JPEG printed in the report header
    require_reviewer: bool = False    # sign-off needs a second person (four-eyes rule)
    # Report: calls below this confidence are marked; None: below the model's calibrated
    # low-confidence threshold (its model.json), the report saying which threshold it used.
    confidence_threshold: float | None = None
    report_page_size: str = "A4"      # "A4" | "Letter"
    # The case database when no --db is given: a file or folder, or a lab network's shared store
    # postgresql://user@host:port/dbname (lab_app/core/case_db.py); None: the data folder's file.
    database: str | None = None

    def validate(self) -> None:
        if self.database is not None and not self.database.strip():
            raise SettingsError("The case database setting is empty; remove it to use this "
                                "computer's data folder.")
        if self.confidence_threshold is not None:
            _check_fraction("lab.confidence_threshold", self.confidence_threshold)
        if self.report_page_size not in PAGE_SIZES:
            raise SettingsError(f"The report page size must be A4 or Letter, not '{self.report_page_size}'.")


@dataclass
class AnalysisSettings:
    """How images are analysed (the pipeline reads these)."""
    segmentation_preset: str = "default"  # "default" | "dataset" (see segmentation.py)
    device: str = "auto"                  # "auto" | "cpu" | "cuda"
    model_dir: str | None = None          # None: the bundled model
    # Results below this get the low_confidence flag; None: the model card's threshold, chosen on
    # the model's validation data (the same default labapp-batch uses).
    low_confidence_threshold: float | None = None

    def validate(self) -> None:
        if self.device not in DEVICES:
            raise SettingsError(f"The analysis device must be auto, cpu or cuda, not '{self.device}'.")
        if not self.segmentation_preset or not isinstance(self.segmentation_preset, str):
            raise SettingsError("The segmentation preset must be a name such as 'default'.")
        if self.low_confidence_threshold is not None:
            _check_fraction("analysis.low_confidence_threshold", self.low_confidence_threshold)


@dataclass
class Settings:
    lab: LabSettings = field(default_factory=LabSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    def validate(self) -> None:
        self.lab.validate()
        self.analysis.validate()

    def to_dict(self) -> dict[str, Any]:
        return {"format": SETTINGS_FORMAT, "lab": asdict(self.lab), "analysis": asdict(self.analysis)}


def config_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding settings.json: argument, else $LABAPP_CONFIG_DIR, else the OS default."""
    if override is not None:
        return Path(override)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    from platformdirs import user_config_dir  # imported late: only needed for the default
    return Path(user_config_dir(APP_DIR_NAME, appauthor=False))


def settings_path(folder: str | os.PathLike[str] | None = None) -> Path:
    return config_dir(folder) / SETTINGS_FILE


def load_settings(folder: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings.json; a missing file gives the defaults."""
    path = settings_path(folder)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise SettingsError(f"The settings file {path} cannot be read ({exc.strerror}).") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"The settings file {path} is damaged (invalid JSON at line {exc.lineno}); "
                            "fix it or delete it to start from the defaults.") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"The settings file {path} does not hold a settings object.")
    try:
        settings = Settings(lab=_from_dict(LabSettings, data.get("lab", {}), "lab"),
                            analysis=_from_dict(AnalysisSettings, data.get("analysis", {}), "analysis"))
        settings.validate()
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}") from exc
    return settings


def database_location(explicit: str | os.PathLike[str] | None,
                      folder: str | os.PathLike[str] | None = None) -> str | os.PathLike[str] | None:
    """The case database to open: ``explicit`` (--db), else the lab settings' ``database``, else
    None (the data folder's SQLite file). Unreadable settings leave the default."""
    if explicit:
        return explicit
    try:
        return load_settings(folder).lab.database
    except SettingsError:
        return None


def save_settings(settings: Settings, folder: str | os.PathLike[str] | None = None) -> Path:
    """Validate and write settings.json atomically; returns the path written."""
    settings.validate()
    path = settings_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return atomic_write_text(path, text)


# Expected JSON types per dataclass field annotation (annotations are strings under
# `from __future__ import annotations`).
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "str | None": (str, type(None)), "bool": (bool,), "float": (int, float),
    "float | None": (int, float, type(None)),
}


def _from_dict(cls: type, data: Any, section: str) -> Any:
    if not isinstance(data, dict):
        raise SettingsError(f"The '{section}' section must be an object.")
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        allowed = _TYPES[str(f.type)]
        # bool is an int subclass: refuse true/false where a number is expected.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise SettingsError(f"The setting {section}.{f.name} has the wrong type "
                                f"({type(value).__name__}).")
        values[f.name] = float(value) if f.type.startswith("float") and value is not None else value
    return cls(**values)


def _check_fraction(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SettingsError(f"The setting {name} must be a number between 0 and 1, not {value!r}.")
