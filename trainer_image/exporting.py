"""Export a SavedModel with the OD API exporter (`image_tensor` input), its batch dimension left open."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from object_detection import exporter_lib_v2
from object_detection.protos import pipeline_pb2

from trainer_image.tf_compat import tf

BATCHED_INPUT = "image_tensor_any_batch"


class DetectionFromImageBatchModule(exporter_lib_v2.DetectionInferenceModule):
    """The OD API's `image_tensor` module with input [None, None, None, 3] instead of [1, None, None, 3]: the same
    graph (each image preprocessed by the model's own resizer, then one predict and postprocess for all), so that
    score.py can run the requests of one worker as one call (dynamic batching)."""

    def __init__(self, detection_model, use_side_inputs=False, zipped_side_inputs=None) -> None:
        signature = [tf.TensorSpec(shape=[None, None, None, 3], dtype=tf.uint8, name="input_tensor")]

        def call_func(input_tensor):
            images, true_shapes = self._preprocess_input(input_tensor, lambda x: x)
            return self._run_inference_on_images(images, true_shapes)

        self.__call__ = tf.function(call_func, input_signature=signature)
        super().__init__(detection_model, use_side_inputs, zipped_side_inputs)


exporter_lib_v2.DETECTION_MODULE_MAP.setdefault(BATCHED_INPUT, DetectionFromImageBatchModule)


def export(pipeline_config: Path, checkpoint_dir: Path, output_dir: Path) -> Path:
    """Write `output_dir/saved_model` (+ `checkpoint/`, `pipeline.config`) and return the SavedModel path."""
    pipeline = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(pipeline_config.read_text(), pipeline)
    exporter_lib_v2.export_inference_graph(BATCHED_INPUT, pipeline, str(checkpoint_dir), str(output_dir))
    return output_dir / "saved_model"
