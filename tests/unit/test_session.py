"""The Qt-free case session: the rules the window only asks about, and the events it draws from."""

from __future__ import annotations

import pytest

from lab_app.core.case_models import ACCEPTED, OVERRIDDEN, PENDING, LabInfo
from lab_app.core.case_rows import ANALYSING, NEEDS_REVIEW, PENDING as ROW_PENDING
from lab_app.core.cases import CaseStore
from lab_app.core.errors import CaseStoreError
from lab_app.core.results import FLAG_LOW_CONFIDENCE, FLAG_OUT_OF_SCOPE
from lab_app.core.session import CaseSession, SessionRuleError

from helpers import Clock, result

FIELDS = {"patient_id": "P-1", "sample_id": "S-1", "technician": "Ana Tech"}
LAB = LabInfo("City Hematology Lab", "1 Main St", None)


@pytest.fixture
def session(tmp_path):
    with CaseStore(tmp_path / "cases.sqlite3", clock=Clock()) as store:
        s = CaseSession(store)
        s.seen = []   # every event, in order
        for name in CaseSession.EVENTS:
            s.events.connect(name, lambda *args, n=name: s.seen.append((n, args)))
        yield s


def analysed(session, *names_and_flags):
    """A case whose rows carry stored results (names with their flags)."""
    case = session.ensure_case(FIELDS, LAB, "Ana Tech")
    paths = [f"/slides/{n}" for n, _ in names_and_flags]
    session.add_paths(paths)
    stored = [(p, session.store.add_result(case.id, result(n, flags=f)))
              for p, (n, f) in zip(paths, names_and_flags)]
    session.apply_images(stored)
    return case


def test_rows_and_their_events(session):
    analysed(session, ("a.jpg", ()))
    assert [e[0] for e in session.seen] == ["case_changed", "rows_inserted", "rows_changed"]
    assert session.seen[1][1] == (0, 0)
    new = session.add_paths(["/slides/a.jpg", "/slides/b.jpg", "/slides/b.jpg"])
    assert new == ["/slides/b.jpg"]
    assert session.seen[-1] == ("rows_inserted", (1, 1))
    assert session.rows[1].state == ROW_PENDING and session.pending_paths() == ["/slides/b.jpg"]
    session.set_running(["/slides/b.jpg"])
    assert session.rows[1].state == ANALYSING and session.pending_paths() == []
    assert session.seen[-1] == ("rows_changed", ([1],))
    session.clear_running()
    assert session.pending_paths() == ["/slides/b.jpg"]


def test_switching_case_is_refused_while_analysing(session):
    analysed(session, ("a.jpg", ()))
    session.set_analysing(True)
    assert session.seen[-1][0] == "busy_changed"
    with pytest.raises(SessionRuleError, match="before starting another case") as info:
        session.new_case()
    assert info.value.title == "Analysis running"
    with pytest.raises(SessionRuleError, match="before opening another case"):
        session.open_case(session.case.id)
    assert session.case is not None and len(session.rows) == 1
    session.set_analysing(False)
    session.new_case()
    assert session.case is None and session.rows == []


def test_action_states_follow_the_case(session):
    a = session.action_states()
    assert not (a.analyse or a.sign_off or a.export_pdf or a.cancel) and a.add_images
    analysed(session, ("a.jpg", ()))
    a = session.action_states()
    assert a.analyse and a.reanalyse and a.sign_off and a.export_pdf and not a.cancel
    session.set_analysing(True)
    a = session.action_states()
    assert a.cancel and a.analyse and not a.reanalyse and not a.sign_off
    session.set_analysing(False)
    session.set_reporting(True)
    assert not session.action_states().export_pdf


def test_sign_off_needs_every_decision_and_every_analysis(session):
    analysed(session, ("a.jpg", ()), ("b.jpg", (FLAG_LOW_CONFIDENCE,)), ("c.jpg", (FLAG_OUT_OF_SCOPE,)))
    assert session.rows[1].state == NEEDS_REVIEW
    blocker = session.sign_off_blocker()
    assert blocker.title == "Decisions missing" and "2 images still need" in str(blocker)
    with pytest.raises(SessionRuleError, match="2 images still need"):
        session.sign_off("Ana Tech", None, require_reviewer=False)
    for row in session.rows[:2]:
        session.decide(row, "Ana Tech", ACCEPTED)
    session.set_analysing(True)
    assert session.sign_off_blocker().title == "Analysis running"
    session.set_analysing(False)
    assert session.sign_off_blocker() is None             # out of scope needs no decision
    case = session.sign_off("Ana Tech", None, require_reviewer=False)
    assert case.locked and session.locked
    assert session.sign_off_blocker().title == "Nothing to sign off"
    with pytest.raises(SessionRuleError, match="signed off and locked"):
        session.add_paths(["/slides/e.jpg"])
    assert not session.action_states().add_images


def test_sign_off_needs_every_listed_image_analysed(session):
    analysed(session, ("a.jpg", ()))
    session.decide(session.rows[0], "Ana Tech", ACCEPTED)
    session.add_paths(["/slides/d.jpg"])                  # listed, not analysed
    blocker = session.sign_off_blocker()
    assert blocker.title == "Images not analysed" and "1 image(s)" in str(blocker)
    with pytest.raises(SessionRuleError, match="not analysed yet"):
        session.sign_off("Ana Tech", None, require_reviewer=False)
    assert not session.store.get_case(session.case.id).locked


def test_out_of_scope_has_nothing_to_accept_and_failed_nothing_to_review(session):
    analysed(session, ("a.jpg", (FLAG_OUT_OF_SCOPE,)))
    row = session.rows[0]
    row.image.result.prediction = None
    with pytest.raises(SessionRuleError, match="out of scope"):
        session.accept_rule(row)
    session.add_paths(["/slides/x.jpg"])
    with pytest.raises(SessionRuleError, match="not analysed yet"):
        session.reviewable(session.rows[1])


def test_a_signed_case_changes_only_by_amendment_with_a_reason(session):
    analysed(session, ("a.jpg", ()))
    row = session.rows[0]
    session.decide(row, "Ana Tech", ACCEPTED)
    session.sign_off("Ana Tech", None, require_reviewer=False)
    with pytest.raises(SessionRuleError, match="amendment"):
        session.decide(row, "Ana Tech", OVERRIDDEN, "Pro", "blasts")
    with pytest.raises(SessionRuleError, match="needs a reason"):
        session.amend_decision(row, "Ana Tech", "  ", OVERRIDDEN, "Pro", "blasts")
    image = session.amend_decision(row, "Ana Tech", "second look", OVERRIDDEN, "Pro", "blasts")
    assert image.final_class == "Pro" and session.rows[0].image.final_class == "Pro"
    assert session.case.amended
    stored = session.store.get_case(session.case.id)
    assert stored.image(image.id).decision.status == OVERRIDDEN


def test_field_edits_are_saved_until_sign_off(session):
    analysed(session, ("a.jpg", ()))
    assert session.update_field("patient_birth_date", "", "Ana Tech")
    assert session.store.get_case(session.case.id).patient.birth_date is None
    with pytest.raises(CaseStoreError):
        session.update_field("patient_birth_date", "31.02.2020", "Ana Tech")
    session.decide(session.rows[0], "Ana Tech", ACCEPTED)
    session.decide(session.rows[0], "Ana Tech", PENDING)
    session.decide(session.rows[0], "Ana Tech", ACCEPTED)
    session.sign_off("Ana Tech", None, require_reviewer=False)
    assert not session.update_field("patient_id", "P-2", "Ana Tech")
    assert session.store.get_case(session.case.id).patient.id == "P-1"


def test_queue_keeps_order_and_the_last_parameters(session):
    session.enqueue(["/a", "/b"], "p1")
    session.enqueue(["/b", "/c"], "p2")
    assert session.take_queue() == (["/a", "/b", "/c"], "p2")
    assert session.queued == []


def test_without_a_store_nothing_can_be_saved():
    s = CaseSession(None)
    with pytest.raises(SessionRuleError, match="could not be opened") as info:
        s.ensure_case(FIELDS, LAB, "Ana Tech")
    assert info.value.title == "Case database unavailable"
