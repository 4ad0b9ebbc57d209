"""The Azure Functions app (Python v2 programming model). Handlers are thin: parse, call the core, log.

The worker imports the script named by PYTHON_SCRIPT_FILE_NAME (`functions_entry.py` beside host.json),
which exposes the `app` built here.
"""

import functools
from collections.abc import Callable

import azure.functions as func

from function_app import (
    approvals,
    base_models,
    blob_events,
    datasets,
    debounce_timer,
    labelling,
    monitoring,
    projects,
    release_timer,
    reports,
    run_events,
    status,
)

app = func.FunctionApp()
for blueprint in (blob_events.bp, debounce_timer.bp, run_events.bp, status.bp, datasets.bp, approvals.bp,
                  release_timer.bp, reports.bp, labelling.bp, base_models.bp,
                  monitoring.bp, projects.bp):
    app.register_functions(blueprint)


@functools.cache
def functions() -> tuple:
    """The app's indexed functions. Cached: the app validates and lists its functions only once."""
    return tuple(app.get_functions())


def handlers() -> dict[str, Callable]:
    """The user functions by name, as the host invokes them (local mode, tests, benchmarks)."""
    return {f.get_function_name(): f.get_user_function() for f in functions()}
