"""The trainer images are linted (Docker cannot run here) and share one set of pins with CI."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_dockerfiles_pass_hadolint():
    files = [str(ROOT / "trainer_image" / name) for name in ("Dockerfile", "Dockerfile.gpu", "Dockerfile.serving-onnx")]
    result = subprocess.run([str(HADOLINT), "--no-color", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_and_gpu_images_and_ci_install_the_same_pins():
    """Both images take every pin from requirements-common.txt; the CPU image (which also serves) adds the
    serving packages; each adds only its TensorFlow build."""
    expected = {"requirements.txt": ["-r requirements-common.txt", "-r requirements-serving.txt",
                                     "tensorflow-cpu==2.15.1"],
                "requirements-gpu.txt": ["-r requirements-common.txt", "tensorflow==2.15.1"]}
    for name, wanted in expected.items():
        lines = [line for line in (ROOT / "trainer_image" / name).read_text().splitlines()
                 if line and not line.startswith("#")]
        assert lines == wanted, name
    assert "trainer_image/requirements.txt" in (ROOT / "scripts" / "setup_env.sh").read_text()


def test_the_environment_holds_one_tensorflow_build():
    """tf-models-official asks for the full `tensorflow`; installed by its metadata it lands beside `tensorflow-cpu`
    (1.4 GB more, the same files written twice), which the --no-deps install keeps out."""
    from importlib.metadata import PackageNotFoundError, version

    assert version("tensorflow-cpu") == "2.15.1"
    for other in ("tensorflow", "tensorflow-text", "tensorflow-hub", "tensorflow-datasets", "opencv-python"):
        with pytest.raises(PackageNotFoundError):
            version(other)


def test_the_onnx_serving_image_has_no_tensorflow_and_the_trainers_pins():
    """The ONNX-only image installs the serving packages and ONNX Runtime at the trainer's own versions, and
    nothing that brings TensorFlow or the OD API; it copies only what score.py imports."""
    lines = [line for line in (ROOT / "trainer_image" / "requirements-serving-onnx.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == "-r requirements-serving.txt"
    common = (ROOT / "trainer_image" / "requirements-common.txt").read_text().splitlines()
    for pin in lines[1:]:
        assert any(line.split("#")[0].strip() == pin for line in common), f"{pin} is not the trainer's pin"
    assert not [line for line in lines if "tensorflow" in line or "object-detection" in line or "tf-" in line]
    dockerfile = (ROOT / "trainer_image" / "Dockerfile.serving-onnx").read_text()
    assert "requirements-serving-onnx.txt" in dockerfile and "requirements.txt " not in dockerfile
    assert "COPY trainer_image/serving/ trainer_image/serving/" in dockerfile
