"""`python -m local_mode serve`: the local twin of a deployed service, empty and waiting, until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from local_mode.azurite import Azurite
from local_mode.chaos import Chaos
from local_mode.commands.common import LOG_FILE, add_data_arguments, data_folder, local_settings, recover, say
from local_mode.functions_host import FunctionsHost, WebhookInbox
from local_mode.loop import LocalLoop
from shared.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    serve_p = sub.add_parser("serve", help="run the local twin of the service, empty, until Ctrl-C")
    serve_p.add_argument("--steps", type=int, default=600, help="training steps of each local run")
    serve_p.add_argument("--batch-size", type=int, default=8)
    serve_p.add_argument("--quiet-seconds", type=float, default=5.0, help="debounce quiet period")
    serve_p.add_argument("--gate-min-map-50", type=float, default=0.5, help="release gate on mAP@0.5")
    serve_p.add_argument("--port", type=int, default=0, help="port of the local functions host (0: any free)")
    add_data_arguments(serve_p)
    serve_p.add_argument("--interval", type=float, default=2.0, help="seconds between two timer ticks")
    serve_p.add_argument("--json", action="store_true", help="print the addresses and keys as one JSON line")
    serve_p.add_argument("--log-file", default=str(LOG_FILE), help="JSON log lines of the service (INFO and up)")
    serve_p.add_argument("--chaos-dir", help="take fault orders from JSON files in this folder (the chaos soak's; "
                         "see local_mode/chaos.py)")
    serve_p.set_defaults(handler=serve, local=True)


def serve(args: argparse.Namespace) -> int:
    """The local twin of a deployed service, empty and waiting: Azurite, the functions' routes, the event source,
    both timers, the trainer and the endpoint. Upload into it (or point `smoke` at it) and it does the rest."""
    with Azurite(data_folder(args)) as azurite, tempfile.TemporaryDirectory() as scratch:
        host, inbox = FunctionsHost(args.port), WebhookInbox()
        env = Settings.from_env()
        settings = local_settings(env, args, azurite, host, env.approval_webhook_url or inbox.url)
        loop = LocalLoop(settings, azurite.blob_endpoint, Path(scratch) / "runs", say=say)
        chaos = _chaos(loop, args.chaos_dir)
        try:
            loop.install_base_model()
            loop.blobs.ensure_container(settings.datasets_container)
            recover(loop)
            started = {"function_url": f"http://{host.host}/api", "function_key": host.key,
                       "projects_page": host.url("projects"),
                       "connection_string": azurite.connection_string,
                       "datasets_container": settings.datasets_container, "endpoint_key": loop.endpoints.key,
                       "approval_webhook": settings.approval_webhook_url}
            if args.json:
                print(json.dumps(started), flush=True)
            say(f"[serve] projects page: {host.url('projects')}")
            say(f"[serve] functions on {started['function_url']} (function key {host.key}; status as JSON: "
                f"{host.url('status')}); endpoint key {loop.endpoints.key}")
            say(f"[serve] upload: DataStorage='{azurite.connection_string}' python -m local_mode upload FOLDER "
                 "--project NAME; Ctrl-C stops everything")
            shown = 0
            while True:
                if chaos:
                    chaos.take_orders()
                    chaos.release_held(loop.deliver_blob_events)
                loop.source.poll()
                loop.tick()
                loop.release_tick()
                if chaos:
                    chaos.tick_done()
                for link in inbox.links()[shown:]:
                    say(f"[serve] approval requested: open {link}")
                shown = len(inbox.links())
                time.sleep(args.interval)
        except KeyboardInterrupt:
            say("[serve] stopping everything this command started")
            return 0
        finally:
            loop.close()
            host.close()
            inbox.close()


def _chaos(loop: LocalLoop, folder: str | None) -> Chaos | None:
    """Put the chaos soak's faults between the event source, the trainer's run events, the timers' clock and the
    handlers."""
    if not folder:
        return None
    chaos = Chaos(Path(folder))
    Path(folder).mkdir(parents=True, exist_ok=True)
    loop.source.deliver = chaos.blob_delivery(loop.deliver_blob_events)
    loop.backend.on_events = chaos.run_delivery(loop.deliver_run_events)
    loop.services.clock = chaos.clock
    return chaos
