"""The ONNX export's per-image loops rebuilt from batched ONNX ops. tf2onnx turns the OD API's per-image multiclass
non-max suppression into a Loop of about 600 small ops run once an image (on SSD MobileNetV2 128x128 a third of
ONNX Runtime's time), and its preprocessing into another: one `NonMaxSuppression` for the whole batch, then one
`TopK`, computes the same detections, and one `Resize` the same inputs.

Only SSD graphs with a fixed-shape resizer (the clip window is then the whole image) and the OD API's plain
multiclass NMS are rewritten, and a rewrite is kept only when it answers exactly as the converted graph on test
images; any other graph stays as tf2onnx wrote it, with the reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RAW_BOXES, RAW_SCORES = "raw_detection_boxes", "raw_detection_scores"
"""Decoded boxes [batch, anchors, 4] (normalized ymin, xmin, ymax, xmax) and the score converter's scores with the
background class first [batch, anchors, classes + 1]: the graph's own outputs, taken before its NMS."""
REPLACED = ("detection_boxes", "detection_scores", "detection_classes", "num_detections",
            "detection_anchor_indices", "detection_multiclass_scores")
LABEL_ID_OFFSET = 1
"""The OD API's classes count from 0 inside the model and from 1 in its outputs (the label map's ids)."""


@dataclass(frozen=True)
class Nms:
    """The pipeline's `batch_non_max_suppression` settings the rewrite reproduces."""

    score_threshold: float
    iou_threshold: float
    max_per_class: int
    max_total: int


def nms_settings(pipeline_config: str) -> tuple[Nms | None, str]:
    """(settings, "") when the pipeline's post-processing is one the rewrite reproduces exactly, else (None, why)."""
    from google.protobuf import text_format
    from object_detection.protos import pipeline_pb2

    config = text_format.Parse(pipeline_config, pipeline_pb2.TrainEvalPipelineConfig())
    if config.model.WhichOneof("model") != "ssd":
        return None, f"{config.model.WhichOneof('model')} post-processing is not rewritten (SSD only)"
    ssd = config.model.ssd
    if ssd.image_resizer.WhichOneof("image_resizer_oneof") != "fixed_shape_resizer":
        return None, "the resizer is not fixed_shape_resizer: the clip window is not the whole image"
    nms = ssd.post_processing.batch_non_max_suppression
    unusual = [name for name, on in (("use_static_shapes", nms.use_static_shapes),
                                     ("use_class_agnostic_nms", nms.use_class_agnostic_nms),
                                     ("use_combined_nms", nms.use_combined_nms),
                                     ("use_partitioned_nms", nms.use_partitioned_nms),
                                     ("soft_nms_sigma", nms.soft_nms_sigma != 0.0)) if on]
    if unusual:
        return None, f"batch_non_max_suppression sets {', '.join(unusual)}: not rewritten"
    return Nms(nms.score_threshold, nms.iou_threshold, nms.max_detections_per_class, nms.max_total_detections), ""


def rewrite_file(path: Path, nms: Nms) -> str:
    """Rewrite `path` in place when the rewritten graph answers as the converted one on test images; returns ""
    or why the graph was kept as it was."""
    model = onnx.load(str(path))
    original = model.SerializeToString()
    why = rewrite(model, nms)
    if why:
        return why
    onnx.checker.check_model(model)
    differs = _differences(original, model.SerializeToString())
    if differs:
        return differs
    onnx.save(model, str(path))
    return ""


def rewrite(model: onnx.ModelProto, nms: Nms) -> str:
    """Replace the graph's NMS loop (and everything only it used) by batched ops writing the same six outputs, and
    then its preprocessing loop when it is the OD API's (scale, resize); "" or why the graph does not have the
    expected shape (then it is left untouched)."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    missing = [name for name in (RAW_BOXES, RAW_SCORES, *REPLACED) if name not in outputs]
    if missing:
        return f"the graph has no output {', '.join(missing)}"
    if not any(n.op_type == "Loop" and "BatchMultiClassNonMaxSuppression" in n.name for n in graph.node):
        return "the graph has no BatchMultiClassNonMaxSuppression loop"
    kept = [n for n in graph.node if not set(n.output) & set(REPLACED)]
    del graph.node[:]
    graph.node.extend(kept + _batched_nms(graph, nms))
    _drop_unused(graph)
    _batch_preprocessing(graph)
    return ""


def _differences(original: bytes, rewritten: bytes) -> str:
    """"" when both graphs give the same outputs on a batch of test images of the model's input size, else which
    output differs and by how much."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    sessions = [onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
                for graph in (original, rewritten)]
    shape = [d if isinstance(d, int) else None for d in sessions[0].get_inputs()[0].shape]
    height, width = shape[1] or 128, shape[2] or 128
    images = _test_images(height, width)
    names = [o.name for o in sessions[0].get_outputs()]
    before, after = ([dict(zip(names, s.run(names, {sessions[0].get_inputs()[0].name: images}), strict=True))
                      for s in sessions])
    for name in names:
        if before[name].shape != after[name].shape or not np.allclose(before[name], after[name], atol=1e-5):
            gap = (float(np.abs(before[name] - after[name]).max()) if before[name].shape == after[name].shape
                   else f"shape {after[name].shape} against {before[name].shape}")
            return f"the rewritten graph's {name} differs from the converted one's ({gap}): kept as converted"
    return ""


def _batched_nms(graph: onnx.GraphProto, nms: Nms) -> list[onnx.NodeProto]:
    """Per class NMS over every image at once; detections ranked over classes by score; boxes clipped to the
    image and those left with no area dropped before the ranking, as the OD API does; padding as it pads."""
    i64, f32 = np.int64, np.float32
    n, p = helper.make_node, "nms_rewrite/"

    def const(name: str, value: np.ndarray) -> str:
        return _constant(graph, p, name, value)

    return [
        n("Slice", [RAW_SCORES, const("one", np.array([1], i64)), const("end", np.array([2**62], i64)),
                    const("axis2", np.array([2], i64))], [p + "class_scores"]),
        n("Transpose", [p + "class_scores"], [p + "scores"], perm=[0, 2, 1]),  # [batch, classes, anchors]
        n("NonMaxSuppression", [RAW_BOXES, p + "scores", const("per_class", np.array([nms.max_per_class], i64)),
                                const("iou", np.array([nms.iou_threshold], f32)),
                                const("score_floor", np.array([nms.score_threshold], f32))], [p + "selected"]),
        n("Shape", [p + "scores"], [p + "scores_shape"]),
        n("ConstantOfShape", [p + "scores_shape"], [p + "zeros"],
          value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
        n("Shape", [p + "selected"], [p + "selected_shape"]),
        n("Slice", [p + "selected_shape", const("zero_i", np.array([0], i64)), const("one_i", np.array([1], i64))],
          [p + "count"]),
        n("ConstantOfShape", [p + "count"], [p + "ones"],
          value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])),
        n("ScatterND", [p + "zeros", p + "selected", p + "ones"], [p + "chosen"]),
        # clip_to_window on [0, 0, 1, 1], then keep boxes of area > 0 (the OD API prunes the others)
        n("Clip", [RAW_BOXES, const("lo", np.array(0.0, f32)), const("hi", np.array(1.0, f32))], [p + "boxes"]),
        n("Split", [p + "boxes", const("split", np.array([1, 1, 1, 1], i64))],
          [p + "ymin", p + "xmin", p + "ymax", p + "xmax"], axis=2),
        n("Sub", [p + "ymax", p + "ymin"], [p + "height"]),
        n("Sub", [p + "xmax", p + "xmin"], [p + "width"]),
        n("Mul", [p + "height", p + "width"], [p + "area"]),  # [batch, anchors, 1]
        n("Transpose", [p + "area"], [p + "area_t"], perm=[0, 2, 1]),  # [batch, 1, anchors]
        n("Greater", [p + "area_t", const("zero_f", np.array(0.0, f32))], [p + "has_area"]),
        n("Greater", [p + "chosen", const("half", np.array(0.5, f32))], [p + "was_chosen"]),
        n("And", [p + "was_chosen", p + "has_area"], [p + "keep"]),
        n("Where", [p + "keep", p + "scores", const("minus_one", np.array(-1.0, f32))], [p + "ranked"]),
        n("Gather", [p + "scores_shape", const("anchors_at", np.array(2, i64))], [p + "anchors"]),
        n("Reshape", [p + "ranked", const("flat", np.array([0, -1], i64))], [p + "flat"]),  # [batch, classes*anchors]
        n("Shape", [p + "flat"], [p + "flat_shape"]),
        n("Slice", [p + "flat_shape", const("one_b", np.array([1], i64)), const("two", np.array([2], i64))],
          [p + "candidates"]),
        n("Min", [p + "candidates", const("total", np.array([nms.max_total], i64))], [p + "k"]),
        n("TopK", [p + "flat", p + "k"], [p + "best", p + "best_at"], axis=-1, largest=1, sorted=1),
        n("Greater", [p + "best", const("minus_half", np.array(-0.5, f32))], [p + "valid"]),
        n("Div", [p + "best_at", p + "anchors"], [p + "class_index"]),
        n("Mod", [p + "best_at", p + "anchors"], [p + "anchor"]),
        n("Where", [p + "valid", p + "best", const("zero_s", np.array(0.0, f32))], ["detection_scores"]),
        n("Cast", [p + "class_index"], [p + "class_f"], to=TensorProto.FLOAT),
        n("Where", [p + "valid", p + "class_f", const("zero_c", np.array(0.0, f32))], [p + "class_padded"]),
        n("Add", [p + "class_padded", const("offset", np.array(float(LABEL_ID_OFFSET), f32))],
          ["detection_classes"]),
        n("Cast", [p + "anchor"], [p + "anchor_f"], to=TensorProto.FLOAT),
        n("Where", [p + "valid", p + "anchor_f", const("zero_a", np.array(0.0, f32))],
          ["detection_anchor_indices"]),
        n("Unsqueeze", [p + "anchor", const("last", np.array([-1], i64))], [p + "anchor_at"]),
        n("Unsqueeze", [p + "valid", const("last_v", np.array([-1], i64))], [p + "valid_3d"]),
        n("GatherND", [p + "boxes", p + "anchor_at"], [p + "picked_boxes"], batch_dims=1),
        n("Where", [p + "valid_3d", p + "picked_boxes", const("zero_b", np.array(0.0, f32))], ["detection_boxes"]),
        n("GatherND", [RAW_SCORES, p + "anchor_at"], [p + "picked_scores"], batch_dims=1),
        n("Where", [p + "valid_3d", p + "picked_scores", const("zero_m", np.array(0.0, f32))],
          ["detection_multiclass_scores"]),
        n("Cast", [p + "valid"], [p + "valid_f"], to=TensorProto.FLOAT),
        n("ReduceSum", [p + "valid_f", const("axis1", np.array([1], i64))], ["num_detections"], keepdims=0),
    ]


def _test_images(height: int, width: int, count: int = 16) -> np.ndarray:
    """Noise, a flat and a graded image, and scenes of overlapping rectangles in random colours: enough candidate
    boxes of every overlap that a different NMS setting shows in the detections."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (height, width, 3)), np.full((height, width, 3), 127),
              np.tile((np.arange(width) * 255 // max(width - 1, 1))[None, :, None], (height, 1, 3))]
    while len(images) < count:
        scene = np.broadcast_to(rng.integers(0, 256, 3), (height, width, 3)).copy()
        for _ in range(rng.integers(3, 9)):
            top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
            scene[top:top + rng.integers(8, height // 2), left:left + rng.integers(8, width // 2)] = \
                rng.integers(0, 256, 3)
        images.append(scene)
    return np.stack(images).astype(np.uint8)


def _batch_preprocessing(graph: onnx.GraphProto) -> None:
    """The OD API's preprocessing loop (each image cast, scaled to [-1, 1] and resized to the fixed shape, one at a
    time) as the same ops on the whole batch; left alone unless its body is that and only its images are read."""
    loops = [n for n in graph.node if n.op_type == "Loop" and "Postprocessor" not in n.name]
    if len(loops) != 1:
        return
    loop = loops[0]
    body = next(a.g for a in loop.attribute if a.name == "body")
    ops = [n.op_type for n in body.node]
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    if ops.count("Resize") != 1 or ops.count("Mul") != 1 or ops.count("Sub") != 1 or \
            set(loop.output[:-1]) & read or graph.input[0].name not in _graph_reads(body):
        return
    constants = {t.name: numpy_helper.to_array(t) for t in (*body.initializer, *graph.initializer)}
    mul, sub, resize = (next(n for n in body.node if n.op_type == op) for op in ("Mul", "Sub", "Resize"))
    scale = next((constants[i] for i in mul.input if i in constants), None)
    shift = constants.get(sub.input[1])
    size = _resize_size(body, resize, constants)
    if scale is None or shift is None or size is None or size.shape != (2,) or scale.size != 1 or shift.size != 1:
        return
    p, n = "preprocess_rewrite/", helper.make_node

    def const(name: str, value: np.ndarray) -> str:
        return _constant(graph, p, name, value)

    attributes = {a.name: helper.get_attribute_value(a) for a in resize.attribute}  # the body's own mode

    batched = [
        n("Cast", [graph.input[0].name], [p + "pixels"], to=TensorProto.FLOAT),
        n("Mul", [p + "pixels", const("scale", scale.reshape(()).astype(np.float32))], [p + "scaled"]),
        n("Sub", [p + "scaled", const("shift", shift.reshape(()).astype(np.float32))], [p + "centred"]),
        n("Transpose", [p + "centred"], [p + "nchw"], perm=[0, 3, 1, 2]),
        n("Shape", [p + "nchw"], [p + "nchw_shape"]),
        n("Slice", [p + "nchw_shape", const("zero", np.array([0], np.int64)), const("two", np.array([2], np.int64))],
          [p + "batch_channels"]),
        n("Concat", [p + "batch_channels", const("size", size.astype(np.int64))], [p + "sizes"], axis=0),
        n("Resize", [p + "nchw", const("roi", np.array([], np.float32)), const("scales", np.array([], np.float32)),
                     p + "sizes"], [p + "resized"], **attributes),
        n("Transpose", [p + "resized"], [loop.output[-1]], perm=[0, 2, 3, 1]),
    ]
    at = list(graph.node).index(loop)
    nodes = [*graph.node[:at], *batched, *graph.node[at + 1:]]
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused(graph)


def _constant(graph: onnx.GraphProto, prefix: str, name: str, value: np.ndarray) -> str:
    graph.initializer.append(numpy_helper.from_array(value, f"{prefix}const/{name}"))
    return f"{prefix}const/{name}"


def _resize_size(body: onnx.GraphProto, resize: onnx.NodeProto, constants: dict[str, np.ndarray]) -> np.ndarray | None:
    """The fixed (height, width) the body's Resize brings each image to: its `sizes` are the image's first two
    dimensions followed by that constant."""
    if len(resize.input) < 4:
        return None
    made = next((n for n in body.node if resize.input[3] in n.output and n.op_type == "Concat"), None)
    tail = [constants[i] for i in made.input if i in constants] if made else []
    return tail[0] if len(tail) == 1 and tail[0].shape == (2,) else None


def _drop_unused(graph: onnx.GraphProto) -> None:
    """Remove the nodes and initializers nothing reads any more (the old NMS loop and what fed only it); a
    subgraph's reads of outer names count."""
    needed = {o.name for o in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if set(node.output) & needed:
            kept.append(node)
            needed |= set(node.input) | _outer_reads(node)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _outer_reads(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            names |= _graph_reads(attribute.g)
    return names


def _graph_reads(graph: onnx.GraphProto) -> set[str]:
    reads = set()
    for node in graph.node:
        reads |= set(node.input) | _outer_reads(node)
    return reads
