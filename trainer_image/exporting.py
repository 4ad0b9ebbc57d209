"""Export a SavedModel with the OD API exporter (`image_tensor` input)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from object_detection import exporter_lib_v2
from object_detection.protos import pipeline_pb2


def export(pipeline_config: Path, checkpoint_dir: Path, output_dir: Path) -> Path:
    """Write `output_dir/saved_model` (+ `checkpoint/`, `pipeline.config`) and return the SavedModel path."""
    pipeline = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(pipeline_config.read_text(), pipeline)
    exporter_lib_v2.export_inference_graph("image_tensor", pipeline, str(checkpoint_dir), str(output_dir))
    return output_dir / "saved_model"
