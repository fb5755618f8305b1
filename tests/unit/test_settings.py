"""Settings: defaults, round trip, env override, validation, atomic writes."""

from __future__ import annotations

import json
import os

import pytest

from lab_app.core.atomic import atomic_write_bytes, atomic_write_text
from lab_app.core.settings import (AnalysisSettings, LabSettings, Settings, SettingsError,
                                   config_dir, load_settings, save_settings, settings_path)


def test_missing_file_gives_defaults(tmp_path):
    s = load_settings(tmp_path)
    assert s == Settings()
    assert s.lab.report_page_size == "A4" and s.analysis.device == "auto"


def test_round_trip_unicode(tmp_path):
    s = Settings(lab=LabSettings(name="Εργαστήριο Αιματολογίας", address="Line 1\nمشهد",
                                 logo_path="/x/logo.png", require_reviewer=True,
                                 confidence_threshold=0.75, report_page_size="Letter"),
                 analysis=AnalysisSettings(segmentation_preset="dataset", device="cpu",
                                           model_dir="/models/m1", low_confidence_threshold=0.5))
    path = save_settings(s, tmp_path)
    assert path == tmp_path / "settings.json"
    assert load_settings(tmp_path) == s
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == 1 and data["lab"]["name"] == "Εργαστήριο Αιματολογίας"


def test_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("LABAPP_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    save_settings(Settings(lab=LabSettings(name="Env Lab")))
    assert (tmp_path / "cfg" / "settings.json").exists()
    assert load_settings().lab.name == "Env Lab"
    # An explicit argument wins over the environment.
    assert config_dir(tmp_path / "other") == tmp_path / "other"


def test_default_dir_is_per_user(monkeypatch):
    monkeypatch.delenv("LABAPP_CONFIG_DIR", raising=False)
    assert "ALL-Workstation" in str(config_dir())


def test_unknown_keys_ignored_missing_keys_defaulted(tmp_path):
    settings_path(tmp_path).write_text(json.dumps({"lab": {"name": "L", "future": 1}, "x": 2}))
    s = load_settings(tmp_path)
    assert s.lab.name == "L" and s.lab.require_reviewer is False and s.analysis == AnalysisSettings()


@pytest.mark.parametrize("payload, words", [
    ("{not json", "damaged"),
    ("[]", "settings object"),
    (json.dumps({"lab": {"require_reviewer": "yes"}}), "lab.require_reviewer"),
    (json.dumps({"lab": {"confidence_threshold": True}}), "lab.confidence_threshold"),
    (json.dumps({"lab": {"confidence_threshold": 1.5}}), "between 0 and 1"),
    (json.dumps({"lab": {"report_page_size": "A5"}}), "A4 or Letter"),
    (json.dumps({"analysis": {"device": "gpu"}}), "auto, cpu or cuda"),
    (json.dumps({"analysis": []}), "'analysis' section"),
])
def test_invalid_files_raise_readable_errors(tmp_path, payload, words):
    settings_path(tmp_path).write_text(payload)
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert words in str(info.value)
    assert "settings.json" in str(info.value)


def test_save_refuses_invalid(tmp_path):
    with pytest.raises(SettingsError):
        save_settings(Settings(analysis=AnalysisSettings(device="tpu")), tmp_path)
    assert not settings_path(tmp_path).exists()


def test_int_threshold_accepted_as_float(tmp_path):
    settings_path(tmp_path).write_text(json.dumps({"analysis": {"low_confidence_threshold": 1}}))
    assert load_settings(tmp_path).analysis.low_confidence_threshold == 1.0


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two ✓")
    assert target.read_text(encoding="utf-8") == "two ✓"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_mode_and_kept_permissions(tmp_path):
    target = tmp_path / "secret.bin"
    atomic_write_bytes(target, b"x", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600
    atomic_write_bytes(target, b"y")            # keeps the existing file's permissions
    assert target.stat().st_mode & 0o777 == 0o600


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    target.write_text("old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_low_confidence_threshold_defaults_to_the_model_card(tmp_path):
    from lab_app.core.settings import Settings, load_settings, save_settings
    assert Settings().analysis.low_confidence_threshold is None
    save_settings(Settings(), tmp_path)
    assert load_settings(tmp_path).analysis.low_confidence_threshold is None
