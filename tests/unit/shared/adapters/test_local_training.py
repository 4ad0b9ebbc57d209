"""The local trainer gets the arguments an Azure ML job gets (tests/contract/.../test_azureml_training.py)."""

from pathlib import Path

from shared.adapters.local_training import LocalTraining
from shared.settings import Settings
from shared.training import TrainingRequest

REQUEST = TrainingRequest(project="shapes", batch_id="shapes-1", dataset_version="ab12", manifest_container="manifests",
                          manifest_blob="shapes/ab12.json", base_model="base-models/ssd", num_steps=600, batch_size=8,
                          output_prefix="shapes/shapes-1")


def command(settings: Settings) -> list[str]:
    return LocalTraining(None, settings, Path("/work"), on_events=lambda events: None).command_for(REQUEST)


def test_the_exports_asked_for_are_written_by_the_local_trainer_too():
    default = command(Settings())  # ONNX by default: what `auto` serves
    assert [default[i + 1] for i, arg in enumerate(default) if arg == "--export"] == ["onnx"]
    both = command(Settings(export_formats="onnx,tflite"))
    assert [both[i + 1] for i, arg in enumerate(both) if arg == "--export"] == ["onnx", "tflite"]
    assert "--export" not in command(Settings(export_formats=""))
