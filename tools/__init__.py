"""Generators of the pictures in docs/ (``python -m tools.make_screenshots``,
``python -m tools.make_report_example``). Not shipped in the wheel or the installers."""
