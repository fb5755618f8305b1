"""Qt-free core: imaging, segmentation, pipeline, cases, reports, settings.

Nothing in this package may import PySide6 or ``lab_app.gui`` (tests/unit/test_import_rules.py).
"""
