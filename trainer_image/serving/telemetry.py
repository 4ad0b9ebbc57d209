"""score.py's log lines to Application Insights, signed in with the endpoint's identity (Microsoft Entra ID).

The workspace's Application Insights takes no instrumentation key (local auth off, infra/app/monitoring.bicep), and
the inference server's own exporter sends with the key only: its lines would be refused. The deployment sets
APPLICATIONINSIGHTS_CONNECTION_STRING and APPLICATIONINSIGHTS_AUTHENTICATION_STRING (`Authorization=AAD;ClientId=…`,
read by the Azure Monitor exporter itself), as the function app does."""

from __future__ import annotations

import atexit
import json
import logging
from collections.abc import Mapping
from typing import Any

CONNECTION = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AUTHENTICATION = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
SEND_SECONDS = 5.0


def send_to_application_insights(logger: logging.Logger, environ: Mapping[str, str],
                                 **exporter_options: Any) -> logging.Handler | None:
    """Attach a handler that exports `logger`'s lines (one AppTraces row each, the JSON line as its Message), or
    None when the deployment names no Application Insights; without Entra sign-in it says why it sends nothing."""
    connection = environ.get(CONNECTION, "")
    if not connection:
        return None
    if not _entra(environ.get(AUTHENTICATION, "")) and "credential" not in exporter_options:
        logger.warning(json.dumps({"message": "telemetry not sent: Application Insights takes Entra ID sign-in only",
                                   "fix": f"set {AUTHENTICATION}=Authorization=AAD;ClientId=<endpoint identity>"}))
        return None
    from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    provider = LoggerProvider(resource=Resource.create({SERVICE_NAME: environ.get("ENDPOINT_NAME") or "score"}))
    exporter = AzureMonitorLogExporter(connection_string=connection, **exporter_options)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter,
                                                              schedule_delay_millis=int(SEND_SECONDS * 1000)))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger.addHandler(handler)
    atexit.register(provider.shutdown)  # what is still batched goes out when the worker stops
    return handler


def _entra(authentication: str) -> bool:
    pairs = (part.split("=", 1) for part in authentication.split(";") if "=" in part)
    return {k.strip().lower(): v.strip().upper() for k, v in pairs}.get("authorization") == "AAD"
