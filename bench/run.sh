#!/usr/bin/env bash
# Benchmarks, one command: figures and ratios measured side by side in one run (see bench/*.py docstrings).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup_env.sh --label-studio --serving-onnx
export LOG_LEVEL=WARNING
echo "## Event burst (issue: event-driven core)"
.venv/bin/python -m bench.event_burst
echo
echo "## TFRecords and training speed (issue: trainer)"
.venv/bin/python -m bench.tfrecords_build
echo
echo "## Serving: the endpoint with and without dynamic batching vs. the plain server and in-process (issue: serving)"
.venv/bin/python -m bench.serving
echo
echo "## Exports: ONNX and TFLite float16/int8 against the SavedModel on the demo's validation images (issue: exports)"
.venv/bin/python -m bench.exports
echo
echo "## Scoring under garbage senders (issue: reliability)"
.venv/bin/python -m bench.hostile_load
echo
echo "## Base models and scale-out (issue: base models)"
.venv/bin/python -m bench.scale_out
echo
echo "## The labelling loop (issue: labelling loop)"
.venv/bin/python -m bench.labelling_loop
echo
echo "## The labelling loop's end in Label Studio: pushing tasks, submits coming back (issue: Label Studio loop)"
.venv/bin/python -m bench.label_studio
echo
echo "## Dataset snapshots at scale (issue: scale; ~30 minutes)"
.venv/bin/python -m bench.snapshot_scale
echo
echo "## A labelling tool's re-export: one COCO file for 10,000 images, +1% (issue: formats; ~10 minutes)"
.venv/bin/python -m bench.formats_reexport
echo
echo "## The project page of a project with 1,000 runs, against the status JSON (issue: first hour)"
.venv/bin/python -m bench.project_page
echo
echo "## Mirroring live traffic to a new slot: the shadow step's cost on the live slot (issue: quality-guarded releases)"
.venv/bin/python -m bench.mirroring
echo
echo "## Chaos soak: the local twin busy, with faults at random moments; invariants checked at the end (issue: reliability)"
.venv/bin/python -m bench.chaos_soak --seed 1 --minutes 4
