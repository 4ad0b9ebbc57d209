import io
import json
import logging

from shared import logs


def test_one_json_object_a_line_with_correlation_ids():
    stream = io.StringIO()
    logs.configure("INFO", stream)
    log = logging.getLogger("t")
    with logs.correlation(event_id="e1", batch_id="b1"):
        with logs.correlation(run_id="r1"):
            log.info("submitted", extra={"steps": 50})
        log.warning("outer")
    log.info("plain")
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["message"], first["event_id"], first["batch_id"], first["run_id"], first["steps"]) == (
        "submitted", "e1", "b1", "r1", 50)
    assert second["level"] == "WARNING" and "run_id" not in second and second["batch_id"] == "b1"
    assert "batch_id" not in third
