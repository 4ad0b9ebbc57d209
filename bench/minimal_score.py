"""The scoring script a user would write by hand for azureml-inference-server-http: decode, model, JSON. The
benchmark's yardstick for the project's score.py (bench/serving.py)."""

import io
import os
from pathlib import Path

import numpy as np
from azureml_inference_server_http.api.aml_request import rawhttp
from azureml_inference_server_http.api.aml_response import AMLResponse
from PIL import Image

model = None


def init():
    global model
    import tensorflow as tf

    saved = next(Path(os.environ["AZUREML_MODEL_DIR"]).rglob("saved_model.pb")).parent
    model = tf.saved_model.load(str(saved)).signatures["serving_default"]


@rawhttp
def run(request):
    import tensorflow as tf

    image = np.asarray(Image.open(io.BytesIO(request.get_data())).convert("RGB"))
    out = model(input_tensor=tf.constant(image[np.newaxis]))
    scores = out["detection_scores"][0].numpy()
    keep = scores >= 0.3
    return AMLResponse({"boxes": out["detection_boxes"][0].numpy()[keep].tolist(),
                        "classes": out["detection_classes"][0].numpy()[keep].tolist(),
                        "scores": scores[keep].tolist()}, 200, json_str=True)
