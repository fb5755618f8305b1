"""Clinic screens: at 1280x1024, 1366x768, 1920x1080 and 150 % scaling the first-run window fits
the screen, the research-use banner, the review buttons and the case tabs are not cut off, and
the results table shows file, status, call and confidence without scrolling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("layout_probe.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("width,height,scale", [(1280, 1024, 1.0), (1366, 768, 1.0),
                                                (1920, 1080, 1.0), (1920, 1080, 1.5)])
def test_first_run_layout_fits_the_screen(width, height, scale, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    proc = subprocess.run([sys.executable, str(PROBE), str(width), str(height), str(scale),
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["fits_screen"], seen
    assert seen["ruo_shown"], "the research-use banner is cut off"
    assert seen["table_columns_fit"], seen
    assert seen["accept_shown"] and seen["next_shown"], "review buttons cut off"
    assert seen["case_tab_shown"] and seen["segmentation_tab_shown"], seen
