"""What the training report shows that only the trainer can make: the exported model's predictions drawn on
validation images (true boxes green, predicted boxes red with label and score) as one grid image, the drift
baseline, and the loss curve; the predictions come from the validation pass."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shared.labelling.drift import DRIFT_THRESHOLD, profile
from trainer_image.tf_compat import tf
from trainer_image.validation_pass import Seen

TILE = 192
COLUMNS = 4


def read_examples(records: list[str], limit: int = -1):
    """(file name, encoded image, true boxes as normalised [xmin, ymin, xmax, ymax], class names) per record, the
    first `limit` (all: -1)."""
    features = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
                "image/filename": tf.io.FixedLenFeature([], tf.string),
                **{f"image/object/bbox/{k}": tf.io.VarLenFeature(tf.float32) for k in ("xmin", "ymin", "xmax", "ymax")},
                "image/object/class/text": tf.io.VarLenFeature(tf.string)}
    for raw in tf.data.TFRecordDataset(records).take(limit):
        parsed = tf.io.parse_single_example(raw, features)
        boxes = np.stack([tf.sparse.to_dense(parsed[f"image/object/bbox/{k}"]).numpy()
                          for k in ("xmin", "ymin", "xmax", "ymax")], axis=-1)
        names = [n.decode() for n in tf.sparse.to_dense(parsed["image/object/class/text"], b"").numpy()]
        yield parsed["image/filename"].numpy().decode(), parsed["image/encoded"].numpy(), boxes, names


def prediction_grid(seen: list[Seen], labels: dict[int, str], *, limit: int = 12,
                    threshold: float = 0.5) -> tuple[bytes, list[dict]]:
    """A JPEG grid of the first `limit` validation images of the pass, and per image what was true and what was
    predicted."""
    tiles, rows = [], []
    for item in [s for s in seen if s.encoded is not None][:limit]:
        image = Image.open(io.BytesIO(item.encoded)).convert("RGB")
        out = item.detections
        kept = [(b, int(c), float(s)) for b, c, s in zip(out["detection_boxes"], out["detection_classes"],
                                                       out["detection_scores"], strict=True) if s >= threshold]
        tile = image.resize((TILE, TILE))
        draw = ImageDraw.Draw(tile)
        for box in item.truth:  # bright green between two dark lines: visible on any colour, green objects too
            x0, y0, x1, y1 = box[0] * TILE, box[1] * TILE, box[2] * TILE, box[3] * TILE
            draw.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], outline=(0, 0, 0), width=4)
            draw.rectangle([x0, y0, x1, y1], outline=(0, 230, 0), width=2)
        for (ymin, xmin, ymax, xmax), cls, score in kept:
            draw.rectangle([xmin * TILE, ymin * TILE, xmax * TILE, ymax * TILE], outline=(230, 0, 0), width=2)
            draw.text((xmin * TILE + 2, ymin * TILE + 1), f"{labels.get(cls, cls)} {score:.2f}", fill=(230, 0, 0))
        tiles.append(tile)
        rows.append({"image": item.name, "truth": item.truth_names,
                     "predicted": [{"label": labels.get(c, str(c)), "score": round(s, 3)} for _, c, s in kept]})
    grid = Image.new("RGB", (TILE * COLUMNS, TILE * max(1, -(-len(tiles) // COLUMNS))), (255, 255, 255))
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % COLUMNS) * TILE, (i // COLUMNS) * TILE))
    buffer = io.BytesIO()
    grid.save(buffer, "JPEG", quality=85)
    return buffer.getvalue(), rows


def validation_profile(seen: list[Seen], labels: dict[int, str], *, threshold: float = DRIFT_THRESHOLD) -> dict:
    """The drift profile of the exported model on the validation images, computed as the drift watch computes it
    on production: the baseline production is compared with."""
    observations = ([(labels.get(int(c), str(int(c))), float(s)) for c, s in
                     zip(item.detections["detection_classes"], item.detections["detection_scores"], strict=True)
                     if s >= 0.1] for item in seen)
    return profile(observations, threshold).to_dict()


def loss_points(train_dir: Path, tag: str = "Loss/total_loss") -> list[tuple[int, float]]:
    """(step, total loss) from the run's TensorBoard event files, one point per training iteration."""
    points: dict[int, float] = {}
    for path in sorted(train_dir.rglob("events.out.tfevents.*")):
        for raw in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for value in event.summary.value:
                if value.tag == tag:
                    points[int(event.step)] = round(float(tf.make_ndarray(value.tensor)), 4)
    return sorted(points.items())
