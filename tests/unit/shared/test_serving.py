"""What every deployment is told, managed, Kubernetes or local: the batching, the runtime and the server's
workers."""

from __future__ import annotations

from shared.serving import scoring_environment
from shared.settings import Settings


def test_onnx_runtime_gets_two_server_workers_and_tensorflow_one_unless_set():
    settings = Settings(storage_connection_string="UseDevelopmentStorage=true")
    assert scoring_environment(settings, "onnx") == {"SCORE_MAX_BATCH": "8", "SCORE_BATCH_WAIT_MS": "5",
                                                     "SERVING_RUNTIME": "onnx", "WORKER_COUNT": "2"}
    assert scoring_environment(settings, "tensorflow")["WORKER_COUNT"] == "1"
    assert scoring_environment(settings)["WORKER_COUNT"] == "1"  # auto, left to score.py: the TensorFlow image
    chosen = settings.with_overrides(serving_workers=3, serving_max_batch=1)
    assert {scoring_environment(chosen, runtime)["WORKER_COUNT"] for runtime in ("onnx", "tensorflow")} == {"3"}
    assert scoring_environment(chosen, "onnx")["SCORE_MAX_BATCH"] == "1"
