"""azureml-inference-server-http (`azmlinfsrv`) bound to 127.0.0.1: the CLI always listens on 0.0.0.0, which a
local twin of a keyed endpoint must not do. Same arguments as `azmlinfsrv`."""

from __future__ import annotations

from azureml_inference_server_http import amlserver

if __name__ == "__main__":
    amlserver.DEFAULT_HOST = "127.0.0.1"
    amlserver.run()
