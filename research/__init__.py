"""Reproduction scripts for the figures in docs/model-development.md (see research/README.md).

Not part of the product: the wheel and the installers ship ``lab_app`` and ``model`` only.
Run each as ``python -m research.NAME`` from the repository root.
"""
