"""Benchmark: the project page of a busy project (issue: first hour), over HTTP from the local functions host on a
fresh Azurite, side by side with what a person reads without it, the status route's JSON:

  * a project of 1,000 runs (100 of them registered versions with per-class AP), a run training, a live endpoint;
  * the project page (first and last page of runs), the projects index, and `GET /api/status/<project>`;
  * median and slowest of `--repeat` requests each, and the page's size.

    python -m bench.project_page [--runs 1000] [--repeat 20] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import time
import urllib.request

from bench import report, say


def timed(url: str, repeat: int) -> dict[str, float]:
    """Median and slowest wall time of `repeat` GETs (after one warm-up), and the body's size."""
    urllib.request.urlopen(url, timeout=60).read()
    seconds, size = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as answer:
            size = len(answer.read())
        seconds.append(time.perf_counter() - started)
    return {"median_ms": round(statistics.median(seconds) * 1000, 1), "max_ms": round(max(seconds) * 1000, 1),
            "bytes": size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    from function_app import bootstrap
    from local_mode.azurite import Azurite
    from local_mode.demo_history import write_history
    from local_mode.functions_host import FunctionsHost
    from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
    from shared.settings import Settings

    with Azurite() as azurite:
        settings = Settings(storage_connection_string=azurite.connection_string)
        blobs, tables = AzureBlobStore.from_settings(settings), AzureTableStore.from_settings(settings)
        say(f"[bench] writing {args.runs} runs")
        write_history(settings, blobs, tables, "birds", runs=args.runs, versions=args.runs // 10,
                      classes=("bird", "feeder", "squirrel"))
        bootstrap.use(bootstrap.Services(settings, blobs, tables))
        host = FunctionsHost()
        try:
            pages = args.runs // 50 + (args.runs % 50 > 0)
            figures = {"runs": args.runs, "repeat": args.repeat,
                       "project_page": timed(host.url("projects/birds"), args.repeat),
                       "project_page_last": timed(host.url("projects/birds") + f"&page={pages}", args.repeat),
                       "projects_index": timed(host.url("projects"), args.repeat),
                       "status_json": timed(host.url("status/birds"), args.repeat)}
        finally:
            host.close()
            bootstrap.use(None)
    figures["page_vs_status_json"] = round(figures["project_page"]["median_ms"]
                                           / figures["status_json"]["median_ms"], 2)
    report(figures, args.json)


if __name__ == "__main__":
    main()
