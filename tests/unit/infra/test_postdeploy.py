"""The postdeploy hook against a stand-in `az` on PATH: it waits for the just-deployed functions to be listed before
Event Grid validates them, retries the subscriptions, and gives up, bounded, saying what it waited for."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HOOK = ROOT / "infra" / "scripts" / "postdeploy.sh"
ENV = {"AZURE_RESOURCE_GROUP": "rg-x", "AZURE_FUNCTION_APP_NAME": "func-x", "AZURE_EVENTGRID_BLOB_TOPIC": "t-blob",
       "AZURE_EVENTGRID_ML_TOPIC": "t-ml", "AZURE_DATA_STORAGE_ACCOUNT": "stx",
       "AZURE_LOG_ANALYTICS_WORKSPACE": "log-x", "POSTDEPLOY_PAUSE_SECONDS": "0", "POSTDEPLOY_TRIES": "5"}


def run_hook(tmp_path: Path, listed_after: int, subscribe_fails: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`az` lists a function from its `listed_after`-th check on; the subscriptions fail `subscribe_fails` times."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "az"
    fake.parent.mkdir()
    fake.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
case "$*" in
  "functionapp function show"*)
    for arg; do [ "${{prev:-}}" = "--function-name" ] && name=$arg; prev=$arg; done
    n=$(grep -c "function-name $name " {calls}); [ "$n" -ge {listed_after} ] ;;
  *eventgrid-subscriptions*)
    n=$(grep -c eventgrid-subscriptions {calls}); [ "$n" -gt {subscribe_fails} ] ;;
  *) exit 0 ;;
esac
""")
    fake.chmod(0o755)
    env = os.environ | ENV | {"PATH": f"{fake.parent}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", str(HOOK)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return done, calls.read_text().splitlines() if calls.exists() else []


def kind(call: str) -> str:
    return ("show " + call.split("--function-name ")[1].split()[0] if "function show" in call
            else "subscribe" if "eventgrid-subscriptions" in call else "alerts" if "alerts.bicep" in call else call)


def test_it_waits_until_both_functions_are_listed_then_subscribes_and_adds_the_alerts(tmp_path):
    done, calls = run_hook(tmp_path, listed_after=3, subscribe_fails=1)
    assert done.returncode == 0, done.stderr
    assert [kind(c) for c in calls] == ["show blob_events"] * 3 + ["show run_events"] * 3 + [
        "subscribe", "subscribe", "alerts"]
    assert "waiting for func-x to list blob_events (check 1 of 5" in done.stdout
    assert "subscriptions failed (a destination not reachable yet?)" in done.stdout


def test_it_gives_up_bounded_naming_the_function_it_waited_for(tmp_path):
    done, calls = run_hook(tmp_path, listed_after=99, subscribe_fails=0)
    assert done.returncode != 0 and len(calls) == 5 and not [c for c in calls if "deployment" in c]
    assert "still does not list the function blob_events after 5 checks" in done.stderr
