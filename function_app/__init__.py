"""The Azure Functions app (Python v2 programming model). Handlers are thin: parse, call the core, log.

The worker imports the script named by PYTHON_SCRIPT_FILE_NAME (`functions_entry.py` beside host.json),
which exposes the `app` built here.
"""

import azure.functions as func

from function_app import datasets

app = func.FunctionApp()
app.register_functions(datasets.bp)
