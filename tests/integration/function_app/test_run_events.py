"""The run-events function fed Microsoft's sample Azure ML events, as the host hands them to the trigger."""

import json
from pathlib import Path

import pytest

from local_mode.demo_data import vott_export
from shared.ports import NotFound
from tests.integration.conftest import trainer_command

pytestmark = pytest.mark.azurite
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "event_grid"


def sample(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())[0]


def test_a_run_this_service_did_not_start_is_ignored(core):
    core.deliver_run_events([sample("run_completed.eventgrid.json"), sample("run_status_changed.eventgrid.json")])
    with pytest.raises(NotFound):
        core.tables.get(core.settings.runs_table, "automl-local-regression", "AutoML_ad912b2d-6467-4f32-a616-"
                                                                               "dbe4af6dd8fc_5")


def test_azures_lowercase_failed_status_ends_our_run_as_failed(core):
    core.configure(local_trainer_command=trainer_command("import time; time.sleep(30)"))
    core.upload("azure", vott_export(3, seed=41))
    core.source.poll()
    outcome = core.tick("azure", after_seconds=61)
    event = sample("run_status_changed.eventgrid.json")  # runStatus "failed", as the docs' sample sends it
    event["subject"] = f"experiments/e/runs/{outcome.job_name}"
    event["data"] |= {"runId": outcome.job_name, "experimentName": "tfod-azure",
                      "runTags": {"tfod-retrain": "1", "project": "azure", "batch_id": outcome.batch_id}}
    core.deliver_run_events([event])
    (run,) = core.runs("azure")
    assert run["status"] == "Failed"
    assert core.state("azure")["phase"] != "submitted"  # the project is free for its next run
