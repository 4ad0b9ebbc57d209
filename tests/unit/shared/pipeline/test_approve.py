"""Approval links: used once, by whom the settings allow; an approval marks the model and starts its release."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from shared.approval_page import decision_page
from shared.approval_tokens import issue
from shared.clock import iso
from shared.labelling.collected import Detection
from shared.pipeline.approve import Approver, token_id
from shared.release_watch import Answer


def registered(pipeline, project: str = "app", images: int = 12) -> str:
    """A run that passed its gates; the token of the link its approval card carries."""
    job = pipeline.train(project, images=images)
    pipeline.write_metrics(job, map=0.5, map_50=0.8)
    pipeline.end(job)
    return parse_qs(urlparse(pipeline.chat.notices[-1].link).query)["token"][0]


def test_approving_marks_the_model_and_takes_the_release_live(pipeline):
    token = registered(pipeline)
    answer = pipeline.approve.decide(token, "approve", Approver("ana@contoso.com", verified=True), "looks right",
                                     pipeline.later(60))
    assert answer.status == 200 and answer.body["state"] == "approved"
    assert answer.body["release"]["phase"] == "live" and answer.body["release"]["endpoint"]["live_slot"] == "blue"
    assert pipeline.model_state("tfod-app", "1") == "deployed"
    run = pipeline.run("app")
    assert (run.model_state, run.approver, run.approver_verified, run.approval_comment, run.slot) == (
        "deployed", "ana@contoso.com", True, "looks right", "blue")
    assert pipeline.state("app").champion_model == f"app/{run.batch_id}/model"  # the next run compares with it
    assert pipeline.status("app")["endpoint"]["live_model"]["since"] == "2026-11-25T09:03:01.000000Z"


def test_rejecting_is_recorded_with_who_and_why_and_releases_nothing(pipeline):
    token = registered(pipeline)
    answer = pipeline.approve.decide(token, "reject", Approver("bo"), "boxes drift left", pipeline.later(60))
    assert answer.status == 200 and "release" not in answer.body
    assert pipeline.model_state("tfod-app", "1") == "rejected" and pipeline.endpoints.deployed == {}
    run = pipeline.run("app")
    assert (run.model_state, run.approver, run.approver_verified, run.approval_comment) == (
        "rejected", "bo", False, "boxes drift left")


def test_the_link_is_never_in_a_log_line_and_a_lost_one_is_re_issued(pipeline, caplog):
    """Approval links are bearer credentials: the log names the token by id; a person whose chat channel failed gets
    a new link, and the old one stops working."""
    with caplog.at_level("INFO"):
        token = registered(pipeline)
        links = pipeline.approve.reissue("tfod-app", "1", pipeline.later(30))
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    new = parse_qs(urlparse(links["page"]).query)["token"][0]
    assert token not in logged and new not in logged and "token=" not in logged
    requested = next(r for r in caplog.records if r.getMessage() == "approval requested")
    assert requested.token_id == token_id(token) and len(requested.token_id) == 12
    old = pipeline.approve.decide(token, "approve", Approver("eve"), "", pipeline.later(40))
    assert old.status == 409 and "not the current one" in old.body["error"]
    assert pipeline.approve.decide(new, "approve", Approver("ana"), "", pipeline.later(50)).status == 200
    done = pipeline.approve.reissue("tfod-app", "1", pipeline.later(60))
    assert done.status == 409 and "already approved by ana" in done.body["error"]
    assert pipeline.approve.reissue("tfod-app", "9").status == 404


def test_a_link_works_once(pipeline):
    token = registered(pipeline)
    assert pipeline.approve.decide(token, "reject", Approver("bo"), "", pipeline.now).status == 200
    again = pipeline.approve.decide(token, "approve", Approver("eve"), "", pipeline.now)
    assert again.status == 409 and "already rejected by bo" in again.body["error"]
    assert pipeline.model_state("tfod-app", "1") == "rejected"


@pytest.mark.parametrize(("tamper", "status", "words"), [
    (lambda token, secret, now: token, 410, "expired"),
    (lambda token, secret, now: issue("another secret", "tfod-app", "1", ttl=timedelta(hours=1), now=now)[0], 403,
     "signature"),
    (lambda token, secret, now: issue(secret, "tfod-app", "1", ttl=timedelta(hours=1), now=now)[0], 409,
     "not the current one"),
    (lambda token, secret, now: issue(secret, "tfod-app", "7", ttl=timedelta(hours=1), now=now)[0], 404,
     "no approval request"),
    (lambda token, secret, now: token[:-4], 403, ""),
])
def test_expired_forged_superseded_and_unknown_links_are_refused(pipeline, tamper, status, words):
    token = registered(pipeline)
    when = pipeline.later(73 * 3600) if status == 410 else pipeline.now
    answer = pipeline.approve.decide(tamper(token, pipeline.settings.approval_secret, when), "approve",
                                     Approver("eve"), "", when)
    assert answer.status == status and words in answer.body["error"]
    assert pipeline.model_state("tfod-app", "1") == "pending-approval" and pipeline.endpoints.deployed == {}


def test_only_listed_people_signed_in_may_decide(pipeline):
    pipeline.rewire(approvers='{"app": ["ana@contoso.com"], "*": []}')
    token = registered(pipeline)
    typed = pipeline.approve.decide(token, "approve", Approver("ana@contoso.com"), "", pipeline.now)
    other = pipeline.approve.decide(token, "approve", Approver("eve@contoso.com", True, "oid-eve"), "", pipeline.now)
    assert (typed.status, other.status) == (403, 403) and "unverified" in typed.body["error"]
    by_id = pipeline.rewire(approvers='["OID-ANA"]') or pipeline.approve.decide(
        token, "approve", Approver("Ana", True, "oid-ana"), "", pipeline.now)
    assert by_id.status == 200


def test_two_people_deciding_at_the_same_moment_get_one_decision(pipeline):
    token = registered(pipeline)
    decided = []

    class Meanwhile:
        def __init__(self, tables):
            self.tables = tables

        def __getattr__(self, name):
            if name != "update":
                return getattr(self.tables, name)

            def update(table, *args, **kwargs):
                if table == "approvals" and not decided:
                    decided.append(pipeline.approve.decide(token, "reject", Approver("bo"), "", pipeline.now))
                return self.tables.update(table, *args, **kwargs)
            return update

    from shared.pipeline.approve import Approve

    racing = Approve(Meanwhile(pipeline.tables), pipeline.settings, pipeline.blobs)
    answer = racing.decide(token, "approve", Approver("ana"), "", pipeline.now)
    assert decided[0].status == 200 and answer.status == 409 and "same moment" in answer.body["error"]
    assert pipeline.model_state("tfod-app", "1") == "rejected"


def test_bad_decisions_and_missing_names_are_refused_before_the_link_is_used(pipeline):
    token = registered(pipeline)
    assert pipeline.approve.decide(token, "maybe", Approver("ana"), "").status == 400
    assert pipeline.approve.decide(token, "approve", Approver(""), "").status == 400
    assert pipeline.approve.decide(token, "approve", Approver("ana"), "", pipeline.now).status == 200


def test_the_evidence_is_the_runs_own(pipeline):
    token = registered(pipeline)
    evidence = pipeline.approve.evidence(token, pipeline.now)
    run = pipeline.run("app")
    assert (evidence.model, evidence.version, evidence.batch_id, evidence.gates_passed) == (
        "tfod-app", "1", run.batch_id, True)
    assert evidence.metrics["map_50"] == 0.8 and evidence.dataset_version == run.dataset_version
    assert pipeline.approve.request("tfod-app", "1", "app", run.batch_id, "again") is None  # one request per version


# --- RELEASE_SHADOW_ORDER=shadow-then-approve: the shadow step's figures are there when the person decides ---------

def shadowed_while_waiting(pipeline) -> str:
    """Version 1 live; version 2 registered: deployed and shadowed before anyone decides; its link's token."""
    first = registered(pipeline)
    pipeline.approve.decide(first, "approve", Approver("ana"), "", pipeline.later(60))
    pipeline.rewire(release_shadow_order="shadow-then-approve", release_shadow_percent=20,
                    release_shadow_requests=4)
    job = pipeline.train("app", images=12, seed=2, start=20)
    pipeline.write_metrics(job, map=0.5, map_50=0.8)
    pipeline.end(job)
    return parse_qs(urlparse(pipeline.chat.notices[-1].link).query)["token"][0]


def mirrored(pipeline, *labels: str) -> None:
    """Four live requests, each answered alike by both slots (a circle at the same place)."""
    when = pipeline.later(30)
    found = tuple(Detection(label, 0.9, (0.1, 0.1, 0.3, 0.3)) for label in labels)
    for slot in ("blue", "green"):
        pipeline.endpoints.served[slot] = [Answer(f"img{i}", 200, 15.0, found, iso(when)) for i in range(4)]


def test_shadow_then_approve_deploys_and_shadows_before_the_decision_and_switches_when_approved(pipeline):
    token = shadowed_while_waiting(pipeline)
    shown = pipeline.release.status("app")
    assert (shown["phase"], shown["release"]["model_version"], shown["live_model"]["version"]) == (
        "shadowing", "2", "1")
    assert pipeline.endpoints.mirror == {"green": 20} and pipeline.model_state("tfod-app", "2") == "pending-approval"
    mirrored(pipeline, "circle")
    pipeline.release.advance_all(pipeline.later(10))
    shown = pipeline.release.status("app")
    assert shown["phase"] == "awaiting-approval" and shown["traffic"] == {"blue": 100}, "no traffic before approval"
    assert pipeline.endpoints.mirror == {} and pipeline.endpoints.deployed == {"blue": "1", "green": "2"}
    pipeline.release.advance_all(pipeline.later(3600))
    assert pipeline.release.status("app")["phase"] == "awaiting-approval", "it waits for the person"
    page = decision_page(pipeline.approve.evidence(token, pipeline.now), "approve", report_link="r")
    assert "The shadow step passed: approving switches traffic at once." in page
    assert "agreed on 4 of 4 mirrored requests (100%)" in page
    answer = pipeline.approve.decide(token, "approve", Approver("bo"), "", pipeline.later(60))
    assert answer.body["release"]["phase"] == "live" and pipeline.endpoints.traffic == {"green": 100, "blue": 0}
    assert pipeline.model_state("tfod-app", "2") == "deployed"


def test_shadow_then_approve_rejected_removes_the_slot_that_went_ahead(pipeline):
    token = shadowed_while_waiting(pipeline)
    answer = pipeline.approve.decide(token, "reject", Approver("bo"), "not this one", pipeline.later(60))
    assert answer.body["release"] == {"withdrawn": "rolled-back"}
    shown = pipeline.release.status("app")
    assert (shown["phase"], shown["reason"], shown["traffic"]) == ("rolled-back", "rejected by bo", {"blue": 100})
    assert pipeline.endpoints.deployed == {"blue": "1"} and pipeline.endpoints.mirror == {}
    assert pipeline.model_state("tfod-app", "2") == "rejected", "a rejection is not a failed deployment"


def test_shadow_then_approve_approved_early_switches_when_the_shadow_step_passes(pipeline):
    token = shadowed_while_waiting(pipeline)
    answer = pipeline.approve.decide(token, "approve", Approver("bo"), "", pipeline.later(60))
    assert answer.body["release"]["phase"] == "shadowing", "approved early: the step still runs"
    mirrored(pipeline, "circle")
    pipeline.release.advance_all(pipeline.later(10))
    assert pipeline.release.status("app")["live_model"]["version"] == "2"


def test_shadow_then_approve_never_decided_is_removed_when_the_link_expires(pipeline):
    shadowed_while_waiting(pipeline)
    mirrored(pipeline, "circle")
    pipeline.release.advance_all(pipeline.later(10))
    pipeline.release.advance_all(pipeline.later(pipeline.settings.approval_ttl_hours * 3600))
    shown = pipeline.release.status("app")
    assert (shown["phase"], shown["reason"]) == ("rolled-back", "no decision before the approval link expired")
    assert pipeline.endpoints.deployed == {"blue": "1"} and pipeline.model_state("tfod-app", "2") == "pending-approval"


def test_ahead_of_its_decision_without_a_shadow_step_a_version_waits_deployed_at_0_percent(pipeline):
    """shadow-then-approve with RELEASE_SHADOW_PERCENT=0: deployed and smoke-tested early, never switched unasked."""
    first = registered(pipeline)
    pipeline.approve.decide(first, "approve", Approver("ana"), "", pipeline.later(60))
    pipeline.rewire(release_shadow_order="shadow-then-approve", release_shadow_percent=0)
    job = pipeline.train("app", images=12, seed=2, start=20)
    pipeline.write_metrics(job, map=0.5, map_50=0.8)
    pipeline.end(job)
    shown = pipeline.release.status("app")
    assert (shown["phase"], shown["traffic"], shown["live_model"]["version"]) == ("awaiting-approval", {"blue": 100},
                                                                                  "1")
    assert pipeline.endpoints.deployed == {"blue": "1", "green": "2"}
    token = parse_qs(urlparse(pipeline.chat.notices[-1].link).query)["token"][0]
    assert pipeline.approve.decide(token, "approve", Approver("bo"), "", pipeline.later(60)).body["release"][
        "phase"] == "live"
