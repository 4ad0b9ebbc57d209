"""Links from the status endpoint into the logs: a batch's timeline as a Log Analytics query (Azure) or the local
command that prints it (local mode)."""

from __future__ import annotations

import base64
import gzip
from urllib.parse import quote

PORTAL_LOGS = ("https://portal.azure.com/#blade/Microsoft_OperationsManagementSuite_Workspace/Logs.ReactView/"
               "resourceId/{resource}/source/LogsBlade.AnalyticsShareLinkToQuery/q/{query}/timespan/{timespan}")
BATCH_PARAMETER = 'let BatchId = "";'


def batch_query(template: str, batch_id: str) -> str:
    """infra/monitoring/queries/batch-timeline.kql with its batch filled in."""
    if BATCH_PARAMETER not in template:
        raise ValueError(f"the timeline query has no `{BATCH_PARAMETER}` line to fill")
    return template.replace(BATCH_PARAMETER, f'let BatchId = "{batch_id}";')


def logs_link(workspace_id: str, query: str, timespan: str = "P30D") -> str:
    """The portal's "share a link to a query" form: the query gzip-compressed, base64, URL-encoded."""
    packed = base64.b64encode(gzip.compress(query.encode("utf-8"))).decode("ascii")
    return PORTAL_LOGS.format(resource=quote(workspace_id, safe=""), query=quote(packed, safe=""), timespan=timespan)


def timeline(batch_id: str | None, workspace_id: str | None, template: str | None) -> dict[str, str | None] | None:
    """Where to read a batch's whole story: the portal link when a workspace is known, and the local command."""
    if not batch_id:
        return None
    link = logs_link(workspace_id, batch_query(template, batch_id)) if workspace_id and template else None
    return {"batch_id": batch_id, "logs_link": link, "local_command": f"python -m local_mode logs --batch {batch_id}"}
