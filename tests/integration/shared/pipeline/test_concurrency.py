"""Several OS processes delivering the same shuffled burst (with redeliveries) record each change once."""

import json

from bench.event_burst import batched, burst_events, deliver
from local_mode.demo_data import vott_export
from shared.ledger import is_dataset_file


def test_concurrent_handler_processes_record_each_change_exactly_once(core, azurite_connection_string):
    core.upload("conc", vott_export(60, seed=13))
    distinct = [event for event, name, _ in core.source.changes() if is_dataset_file(name)]
    events = burst_events(distinct, 0.10, seed=3)
    env = {"DATASETS_CONTAINER": core.settings.datasets_container, "LEDGER_TABLE": core.settings.ledger_table}
    singles = [json.dumps([e]).encode() for e in events[: len(events) // 2]]
    batches = batched(events[len(events) // 2:], 25, cloud=True)  # the rest as CloudEvents batches, at once
    figures = deliver("handler", azurite_connection_string, env, singles + batches, processes=4)
    rows = list(core.tables.query(core.settings.ledger_table, "conc"))
    assert sorted(r["blob"] for r in rows) == sorted(e["subject"].split("/blobs/", 1)[1] for e in distinct)
    assert figures["recorded"] >= len(distinct)  # batches rewrite redelivered rows identically

    outcome = core.tick("conc", after_seconds=61)
    assert outcome.decision.action == "flush"
    manifest = json.loads(core.blobs.read(core.settings.manifests_container, core.state("conc")["manifest"]).data)
    assert manifest["counts"]["images"] == 60
    core.backend.join(outcome.job_name, timeout=60)
