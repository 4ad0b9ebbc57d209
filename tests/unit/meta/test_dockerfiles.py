"""The trainer images are linted (Docker cannot run here) and share one set of pins with CI."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HADOLINT = Path(sys.executable).parent / "hadolint"


def test_dockerfiles_pass_hadolint():
    files = [str(ROOT / "trainer_image" / name) for name in ("Dockerfile", "Dockerfile.gpu")]
    result = subprocess.run([str(HADOLINT), "--no-color", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cpu_and_gpu_images_and_ci_install_the_same_pins():
    for name in ("requirements.txt", "requirements-gpu.txt"):
        lines = [line for line in (ROOT / "trainer_image" / name).read_text().splitlines()
                 if line and not line.startswith("#")]
        assert lines[0] == "-r requirements-common.txt" and len(lines) == 2, name
    assert "trainer_image/requirements.txt" in (ROOT / "scripts" / "setup_env.sh").read_text()
