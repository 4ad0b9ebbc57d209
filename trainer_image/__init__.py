"""The trainer: manifest → TFRecords → pipeline.config → train → evaluate → export. TensorFlow lives here only.

Importing the package applies the TensorFlow / tf-slim / pycocotools fixes first (see tf_compat), so every
module below can import the OD API in the ordinary way. An ONNX-only serving environment has no TensorFlow:
there is nothing to fix, and score.py never imports it there.
"""

try:
    from trainer_image import tf_compat as _tf_compat  # noqa: F401
except ModuleNotFoundError as missing:
    if missing.name != "tensorflow":
        raise
