"""Script the Functions Python worker indexes (app setting PYTHON_SCRIPT_FILE_NAME=functions_entry.py)."""

from function_app import app

__all__ = ["app"]
