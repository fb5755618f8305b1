"""The window's LIS exports: FHIR and HL7 files whose status follows sign-off."""

from __future__ import annotations

import json


def test_fhir_and_hl7_exports_follow_sign_off(make_window, image_folder, tmp_path, gui):
    win = gui.analysed_window(make_window, image_folder)
    for name, value in (("patient_id", "P-9"), ("sample_id", "S-9")):
        gui.set_field(win, name, value)
    win.dialogs.save_path = str(tmp_path / "case")
    path = win.export_lis("fhir")
    assert path.endswith("case.json")
    bundle = json.loads(open(path).read())
    report = next(e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "DiagnosticReport")
    assert report["status"] == "preliminary"
    assert "saved (preliminary" in win.statusBar().currentMessage()
    # Decide everything, sign off: the HL7 message is final.
    win.dialogs.confirm_answer = True
    for i in range(win.proxy.rowCount()):
        row = win.proxy.row_at(i)
        if row.undecided:
            win.select_proxy_row(i)
            win.accept_current()
    win.dialogs.sign_off_names = ("Ana Tech", "")
    win.sign_off()
    assert win.case.locked
    win.dialogs.save_path = str(tmp_path / "case.hl7")
    text = open(win.export_lis("hl7"), encoding="utf-8", newline="").read()
    obx = [s for s in text.split("\r") if s.startswith("OBX")]
    assert obx and all(s.split("|")[11] == "F" for s in obx)
    assert text.split("\r")[1].split("|")[3] == "P-9"
