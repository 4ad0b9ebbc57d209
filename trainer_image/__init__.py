"""The trainer: manifest → TFRecords → pipeline.config → train → evaluate → export. TensorFlow lives here only.

The TensorFlow / tf-slim / pycocotools fixes (see tf_compat) are applied as the OD API is first imported, so every
module can import it in the ordinary way; serving on ONNX Runtime imports neither TensorFlow nor the OD API, even
where they are installed, and starts without paying for them.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any


class _FixesWithObjectDetection(importlib.abc.MetaPathFinder):
    """Finds `object_detection` as usual, with a loader that applies tf_compat once the package has loaded (before
    the submodule asked for); then steps aside."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "object_detection":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenFixes(spec.loader)
        return spec


class _ThenFixes(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        from trainer_image import tf_compat  # noqa: F401


if "object_detection" in sys.modules:
    from trainer_image import tf_compat  # noqa: F401
else:
    sys.meta_path.insert(0, _FixesWithObjectDetection())
