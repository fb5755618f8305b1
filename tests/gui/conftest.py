"""GUI test set-up: offscreen Qt, a temporary case database and settings folder, scripted dialogs.

QT_QPA_PLATFORM is set before anything imports Qt. Tests never touch the user's folders: the
window gets ``store_path`` and ``config_dir`` in tmp_path (LABAPP_CONFIG_DIR is set too, for
code that reads it). LABAPP_DATA_DIR is deliberately left alone: tests/conftest.py uses it for
the image data set.

The model: ``model_dir`` from tests/fixtures_model.py (the bundled model when present, else a
tiny one trained once per session).
"""

from __future__ import annotations

import json
import os
import tempfile

# A 1920 x 1080 offscreen screen (the plugin's default is 800 x 800, smaller than the window).
if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
    _screen = os.path.join(tempfile.mkdtemp(prefix="labapp-qt-"), "offscreen.json")
    with open(_screen, "w", encoding="utf-8") as _f:
        json.dump({"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1080,
                                "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}, _f)
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_screen}"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from helpers import copy_fields  # noqa: E402


class ScriptedDialogs:
    """Stands in for lab_app.gui.dialogs.Dialogs: records messages, answers from attributes."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.infos: list[tuple[str, str]] = []
        self.save_path: str | None = None
        self.open_files: list[str] = []
        self.folder: str | None = None
        self.override: tuple[str, str] | None | str = "keep-target"  # (class, reason) / None
        self.override_reason_text = "Blast morphology fits the chosen subtype better."
        self.override_calls: list[tuple] = []
        self.sign_off_names: tuple[str, str] | None = None
        self.case_to_open: int | None = None
        self.amend_reason_text: str | None = None
        self.new_settings = None
        self.confirm_answer = False
        self.abouts: list = []
        self.texts: list = []
        # Accounts (lab_app/core/accounts.py): sign-in answers, one per ask ((name, password) or
        # None: cancelled), the messages each ask showed; the e-sign-off answer
        # (password, reviewer name, reviewer password) or None.
        self.sign_in_answers: list[tuple[str, str] | None] = []
        self.sign_in_messages: list[str] = []
        self.e_sign_off_answer: tuple[str, str, str] | None = None
        self.e_sign_off_calls: list[tuple] = []

    def open_images(self, parent, start):
        return list(self.open_files)

    def open_folder(self, parent, start):
        return self.folder

    def save_file(self, parent, caption, suggested, file_filter):
        self.save_suggested = suggested
        return self.save_path

    def error(self, parent, title, text):
        self.errors.append((title, text))

    def info(self, parent, title, text):
        self.infos.append((title, text))

    def confirm(self, parent, title, text):
        return self.confirm_answer

    def override_reason(self, parent, image_name, predicted, target):
        self.override_calls.append((image_name, predicted, target))
        if self.override == "keep-target":
            return target, self.override_reason_text
        return self.override

    def sign_off(self, parent, technician, reviewer, require_reviewer, summary_text):
        return self.sign_off_names

    def amend_reason(self, parent, text):
        return self.amend_reason_text

    def sign_in(self, parent, where, message=""):
        self.sign_in_messages.append(message)
        return self.sign_in_answers.pop(0) if self.sign_in_answers else None

    def e_sign_off(self, parent, signer, require_reviewer, summary_text):
        self.e_sign_off_calls.append((signer, require_reviewer))
        return self.e_sign_off_answer

    def open_case(self, parent, store):
        return self.case_to_open

    def preferences(self, parent, settings):
        return self.new_settings

    def about(self, parent, info):
        self.abouts.append(info)

    def text(self, parent, title, html):
        self.texts.append((title, html))


@pytest.fixture
def scripted_dialogs() -> ScriptedDialogs:
    """Dialogs to script before the window exists (e.g. its sign-in): make_window(dialogs=...)."""
    return ScriptedDialogs()


@pytest.fixture
def gui_dirs(tmp_path, monkeypatch):
    cfg = tmp_path / "config"
    cfg.mkdir()
    monkeypatch.setenv("LABAPP_CONFIG_DIR", str(cfg))
    return cfg, tmp_path / "cases.sqlite3"


@pytest.fixture
def make_window(qtbot, model_dir, gui_dirs):
    """make_window(load_engine=True, **MainWindow kwargs) -> a shown window with scripted dialogs."""
    from lab_app.gui.main_window import MainWindow

    cfg, db = gui_dirs

    def make(load_engine: bool = True, **kwargs):
        kwargs.setdefault("store_path", db)
        kwargs.setdefault("config_dir", cfg)
        kwargs.setdefault("model_dir", model_dir)
        kwargs.setdefault("device", "cpu")
        kwargs.setdefault("dialogs", ScriptedDialogs())
        win = MainWindow(**kwargs)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        if load_engine:
            win.start_engine()
            qtbot.waitUntil(lambda: win.engine is not None or win.engine_error is not None,
                            timeout=60000)
        return win

    return make


@pytest.fixture
def image_folder(shipped_fields, tmp_path) -> Path:
    """12 real smear images (3 per class, from tests/data/fields) copied into one folder."""
    return copy_fields(shipped_fields, tmp_path / "images", (0, 2, 5))


class GuiHelpers:
    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot

    def wait_analysed(self, win, timeout: int = 60000) -> None:
        """Until every listed image has a stored result and no analysis runs or waits."""
        self.qtbot.waitUntil(lambda: not win.analysing and not win.scanning and not win.session.queued
                             and win.model.rowCount() > 0
                             and all(r.image is not None for r in win.model.rows()), timeout=timeout)

    def set_field(self, win, name: str, text: str) -> None:
        """Type into a case field and finish editing with Enter, as a technician would."""
        from PySide6.QtCore import Qt
        w = win.case_panel.widgets[name]
        win.focus_case_fields()
        w.setFocus()
        w.selectAll()
        self.qtbot.keyClicks(w, text)
        self.qtbot.keyClick(w, Qt.Key.Key_Return)

    def analysed_window(self, make_window, folder, technician: str = "Ana Tech"):
        win = make_window()
        self.set_field(win, "technician", technician)
        assert win.open_paths([folder])
        self.wait_analysed(win)
        return win


@pytest.fixture
def gui(qtbot) -> GuiHelpers:
    return GuiHelpers(qtbot)
