"""Chaos soak: the whole local twin, busy, with faults at random moments; invariants checked at the end.

`python -m local_mode serve` runs the service on one machine (real Azurite, trainer processes, endpoint, timers).
For `--minutes` this driver plays a schedule drawn from `--seed` (printed first; the same seed gives the same
schedule) of
  * work: uploads of demo images to two projects (a share of them hostile: bytes that are no image, annotations
    that no reader takes), deletions of uploaded images, annotation fixes (a box moved), approvals through the
    approval page's form as they arrive, and scoring requests from two clients at a steady rate;
  * faults: SIGKILL of one project's trainer; SIGKILL of local mode itself (restarted on the same data with
    --keep-data) and of an inference server's process group — each waiting up to RELEASE_WAIT for a release to be
    under way until one of its kind has struck one; Azurite paused (SIGSTOP) then resumed; and, played by local
    mode on order (local_mode/chaos.py): blob events dropped, a delivery duplicated, a delivery held back while
    later ones go ahead, a run's end events lost, the ticks' clock skewed.
Then it lets the service settle (no fault, no new work) and checks what users rely on:
  1. every image uploaded and not deleted is in its project's latest trained manifest, or quarantined with a reason;
  2. no deleted image is in that manifest, and every file in it is the folder's current version (fixes trained);
  3. each project is idle: no run, release or approval under way, no change left untrained;
  4. no two completed runs trained the same dataset version, and no run registered two model versions;
  5. every approved version is live, retired by a later one, or carries its failure reason;
  6. the endpoint serves the latest approved version that went live;
  7. every scoring request got an answer (2xx, or 4xx/5xx with a reason); none hung past 30 s;
  8. every log line the service wrote keeps the log contract.
A violation prints the history around it. Figures: faults ordered by kind and struck (from the service's log),
violations, scoring availability (answered 2xx, outside the moments local mode itself was down and a killed server's
project until it answered 2xx again), p99 while a release was under way and while none was, recovery after each kind
of fault (median and max), runs per uploaded batch.
Bounded: loopback only, `--minutes` of schedule (default 4), then at most `--settle-minutes` (default 15).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from local_mode.approval_click import decide_through_page
from local_mode.azurite import REPO_ROOT
from local_mode.demo_data import jpeg_bytes, make_scene, vott_export
from local_mode.functions_host import WebhookInbox
from local_mode.process_tree import alive, cmdline, descendants
from shared import log_contract
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.dataset.manifest import iter_entries, load_manifest
from shared.pipeline.records import Records
from shared.pipeline.status import run_view
from shared.serving import endpoint_name
from shared.settings import Settings

PROJECTS = ("alpha", "beta")
WORK = {"upload": 5, "delete": 2, "fix-annotation": 2}
FAULTS = {"kill-trainer": 1, "kill-local-mode": 1, "pause-azurite": 1, "kill-endpoint": 2, "drop-events": 1,
          "duplicate-events": 1, "reorder-events": 1, "lose-completion": 1, "skew-clock": 1}
ORDERED = {"drop-events", "duplicate-events", "reorder-events", "lose-completion", "skew-clock"}
"""Faults local mode plays itself, on order (local_mode/chaos.py)."""
ANSWER_TIMEOUT = 30.0
RELEASE_WAIT = 90.0
"""How long a local-mode or inference-server kill waits for a release to strike, until one of its kind has."""
RELEASING = ("requested", "provisioning", "shadowing", "baking")


@dataclass
class History:
    """Everything that happened, in order, with its time since the start (what a violation is explained by)."""

    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, **detail: Any) -> None:
        with self.lock:
            self.events.append((time.monotonic() - self.started, kind, detail))
        print(f"[{time.monotonic() - self.started:7.1f} s] {kind} {json.dumps(detail, default=str)[:200]}",
              file=sys.stderr, flush=True)

    def around(self, kinds: set[str] | None = None, last: int = 15) -> list[str]:
        with self.lock:
            chosen = [e for e in self.events if kinds is None or e[1] in kinds]
        return [f"{t:7.1f} s {kind} {json.dumps(detail, default=str)[:160]}" for t, kind, detail in chosen[-last:]]


def schedule(seed: int, minutes: float) -> list[tuple[float, str, dict[str, Any]]]:
    """The seeded plan: one action every 4-10 s (work twice as often as faults), never a fault in the first
    90 s (the first runs need time to finish)."""
    rng, at, plan = random.Random(seed), 5.0, []
    while at < minutes * 60:
        if at > 90 and rng.random() < 0.33:
            kind = rng.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
            detail = {"pause-azurite": lambda: {"seconds": round(rng.uniform(3, 8), 1)},
                      "skew-clock": lambda: {"seconds": rng.choice((-1, 1)) * round(rng.uniform(5, 180))},
                      "drop-events": lambda: {"count": rng.randint(1, 3)},
                      "reorder-events": lambda: {"seconds": round(rng.uniform(10, 60))},
                      "kill-endpoint": lambda: {"project": rng.choice(PROJECTS)},
                      }.get(kind, dict)()
        else:
            kind = rng.choices(list(WORK), weights=list(WORK.values()))[0]
            detail = {"project": rng.choice(PROJECTS), "seed": rng.randrange(10**6)}
            if kind == "upload":
                detail |= {"images": rng.randint(4, 10), "hostile": rng.random() < 0.3}
        plan.append((round(at, 1), kind, detail))
        at += rng.uniform(4, 10)
    return plan


class Twin:
    """`local_mode serve` on one data folder: started, killed, started again; its JSON line, its log."""

    def __init__(self, data: Path, log: Path, env: dict[str, str], steps: int) -> None:
        self.data, self.log, self.steps = data, log, steps
        self.chaos_dir = data.parent / "chaos"
        self.orders = 0
        self.port = free_port()
        """The functions' port, the same after a restart: approval links and the status route stay valid (as an
        app's host name does on Azure); the endpoint's likewise (LOCAL_ENDPOINT_PORT)."""
        self.env = env | {"LOCAL_ENDPOINT_PORT": str(free_port())}
        self.process: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_mode", "serve", "--json", "--keep-data", "--data-dir", str(self.data),
             "--steps", str(self.steps), "--batch-size", "4", "--quiet-seconds", "3", "--interval", "1",
             "--gate-min-map-50", "0", "--log-file", str(self.log), "--port", str(self.port),
             "--chaos-dir", str(self.chaos_dir)],
            cwd=REPO_ROOT, env=self.env, stdout=subprocess.PIPE, stderr=(self.data.parent / "serve.err").open("a"),
            text=True, start_new_session=True)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("local mode did not start: " + (self.data.parent / "serve.err").read_text()[-2000:])
        self.info = json.loads(line)

    def kill(self) -> None:
        """SIGKILL, as a crash: its watchdog stops Azurite and the trainers it started."""
        assert self.process is not None
        children = descendants(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 60
        while [p for p in children if alive(p)] and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str, timeout: float = 10) -> Any:
        url = f"{self.info['function_url']}/{path}{'&' if '?' in path else '?'}code={self.info['function_key']}"
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return json.loads(answer.read())

    def status(self, project: str) -> dict[str, Any] | None:
        try:
            return self.get(f"status/{project}")
        except (OSError, ValueError):
            return None

    def order(self, fault: str, **detail: Any) -> None:
        """A fault for local mode to play (local_mode/chaos.py): one JSON file, renamed into place whole."""
        self.chaos_dir.mkdir(parents=True, exist_ok=True)
        self.orders += 1
        draft = self.chaos_dir / f"{self.orders:05d}.draft"
        draft.write_text(json.dumps({"fault": fault, **detail}))
        draft.rename(draft.with_suffix(".json"))

    def pids(self, needle: str) -> list[int]:
        if self.process is None:
            return []
        return [p for p in descendants(self.process.pid) if alive(p) and needle in cmdline(p)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scoring:
    """Two clients, each a request every 0.25 s through the project's endpoint (when one is live)."""

    def __init__(self, twin: Twin, key: str, history: History) -> None:
        self.twin, self.key, self.history = twin, key, history
        self.results: list[tuple[float, str, int | str, float]] = []
        """(seconds since start, project, HTTP status or what went wrong, seconds it took)"""
        self.uris: dict[str, str] = {}
        self.stop = threading.Event()
        rng = random.Random(11)
        self.images = [jpeg_bytes(make_scene(rng, 128, 2)[0]) for _ in range(20)]
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(2)]
        for thread in self.threads:
            thread.start()

    def _client(self, number: int) -> None:
        sent = 0
        while not self.stop.wait(0.25):
            project = PROJECTS[(sent + number) % len(PROJECTS)]
            uri = self.uris.get(project)
            sent += 1
            if uri:
                self.results.append((time.monotonic() - self.history.started, project,
                                     *self._score(uri, self.images[sent % len(self.images)])))

    def _score(self, uri: str, body: bytes) -> tuple[int | str, float]:
        request = urllib.request.Request(uri, data=body, method="POST", headers={
            "Content-Type": "image/jpeg", "Authorization": f"Bearer {self.key}"})
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT) as answer:
                answer.read()
                return answer.status, time.monotonic() - started
        except urllib.error.HTTPError as exc:
            reason = exc.read()
            return (exc.code if b"error" in reason else f"{exc.code} without a reason"), time.monotonic() - started
        except TimeoutError:
            return "hung", time.monotonic() - started
        except OSError as exc:
            hung = "timed out" in str(exc)
            return ("hung" if hung else "unreachable"), time.monotonic() - started


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.history = args, History()
        self.inbox = WebhookInbox()
        key = "soak-endpoint-key"
        env = {k: v for k, v in os.environ.items() if k not in ("DataStorage", "AZURITE_CONNECTION_STRING")} | {
            "APPROVAL_WEBHOOK_URL": self.inbox.url, "LOCAL_ENDPOINT_KEY": key, "RETRY_BACKOFF_SECONDS": "2",
            "RECONCILE_AFTER_SECONDS": "10", "RELEASE_SHADOW_PERCENT": "50", "RELEASE_SHADOW_REQUESTS": "10",
            "RELEASE_SHADOW_MINUTES": "0.5", "RELEASE_BAKE_MINUTES": "0.5", "LOG_LEVEL": "WARNING",
            "MAX_RUNS_PER_DAY": "1000", "MAX_RUN_ATTEMPTS": "10",
            # a change with no new image (a deletion, a fixed box) trains once MAX_WAIT_SECONDS has passed
            "MAX_WAIT_SECONDS": "60",
            # a project with nothing pending is listed and compared with its catalog this often (events never sent)
            "SNAPSHOT_RELIST_HOURS": "0.02",
            # every completed run passes its gates: each is registered, approved and released (what the soak is for)
            "GATE_MIN_VALIDATION_IMAGES": "1", "GATE_MAX_REGRESSION": "1", "GATE_MAX_CLASS_REGRESSION": "1"}
        self.twin = Twin(work / "azurite", work / "service.jsonl", env, args.steps)
        self.uploaded: dict[str, dict[str, bytes]] = {p: {} for p in PROJECTS}
        self.deleted: dict[str, set[str]] = {p: set() for p in PROJECTS}
        self.hostile: dict[str, set[str]] = {p: set() for p in PROJECTS}
        self.decided: set[str] = set()
        self.down: list[tuple[float, float]] = []
        """Moments local mode itself was down (killed until it answered again)."""
        self.releasing: list[tuple[float, float]] = []
        self.recoveries: dict[str, list[float]] = {}
        self.faults: Counter[str] = Counter()
        self.uploads = 0
        self.fixes = 0
        self.endpoint_kills: list[tuple[float, str]] = []
        """(when, project) of each inference server killed: that project's scoring is not counted until it
        answers 2xx again."""
        self.trainer_kills: list[tuple[float, str, set[str]]] = []
        """(when, project, batches completed then) of each trainer killed, until a later batch completes."""
        self.scoring = Scoring(self.twin, key, self.history)

    # -- the run ---------------------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        plan = schedule(self.args.seed, self.args.minutes)
        print(f"seed {self.args.seed}: {len(plan)} actions over {self.args.minutes:g} minutes", file=sys.stderr)
        for at, kind, detail in plan:
            print(f"  {at:6.1f} s  {kind} {json.dumps(detail)}", file=sys.stderr)
        self.twin.start()
        self.store = AzureBlobStore.from_settings(Settings(storage_connection_string=self.twin.info[
            "connection_string"]))
        watcher = threading.Thread(target=self._watch, daemon=True)
        watcher.start()
        try:
            for at, kind, detail in plan:
                while time.monotonic() - self.history.started < at:
                    self._approve()
                    time.sleep(0.2)
                getattr(self, "_" + kind.replace("-", "_"))(**detail)
            self.history.add("final cut")
            settled = self._settle()
            violations = self._check()
            if settled is not True:
                violations.insert(0, f"the service did not settle in {self.args.settle_minutes:g} minutes: {settled}")
            return self._figures(violations)
        finally:
            self.scoring.stop.set()
            self.watching = False
            self.twin.stop()
            self.inbox.close()

    def _watch(self) -> None:
        """Once a second: which projects have a release under way (for p99 during releases), and the scoring URI."""
        self.watching, since = True, None
        while self.watching:
            releasing = False
            for project in PROJECTS:
                endpoint = (self.twin.status(project) or {}).get("endpoint") or {}
                if endpoint.get("live_model") and endpoint.get("scoring_uri"):
                    self.scoring.uris[project] = endpoint["scoring_uri"]
                releasing |= endpoint.get("phase") in RELEASING
            now = time.monotonic() - self.history.started
            self._trained_again(now)
            if releasing and since is None:
                since = now
            elif not releasing and since is not None:
                self.releasing.append((since, now))
                since = None
            time.sleep(1)

    def _trained_again(self, now: float) -> None:
        """A project whose trainer was killed has recovered when a batch it had not completed then completes."""
        for kill in list(self.trainer_kills):
            at, project, completed = kill
            runs = (self.twin.status(project) or {}).get("runs") or []
            if any(r.get("status") == "Completed" and r["batch_id"] not in completed for r in runs):
                self.trainer_kills.remove(kill)
                self.recoveries.setdefault("kill-trainer: a run of the project completed again", []).append(
                    now - at)

    # -- work --------------------------------------------------------------------------------------------------------

    def _upload(self, project: str, seed: int, images: int, hostile: bool) -> None:
        files = {f"b{seed}-{name}" if "/" not in name else name.replace("/", f"/b{seed}-", 1): data
                 for name, data in vott_export(images, seed=seed).items() if not name.startswith("ImageSets")}
        if hostile:
            rng = random.Random(seed)
            bad = f"JPEGImages/b{seed}-hostile.jpg"
            files[bad] = rng.randbytes(600)
            files[f"Annotations/b{seed}-hostile.xml"] = b"<annotation><object><name>circle</name></annotation>"
            self.hostile[project].add(bad)
        try:
            for name, data in files.items():
                self.store.write("datasets", f"{project}/{name}", data)
                if name.startswith("JPEGImages/"):
                    self.uploaded[project][name] = data
        except Exception as exc:  # Azurite paused or local mode down: the upload fails as it would for a user
            self.history.add("upload failed", project=project, error=str(exc)[:200])
            return
        self.uploads += 1
        self.history.add("upload", project=project, images=images, hostile=hostile)

    def _delete(self, project: str, seed: int) -> None:
        names = sorted(set(self.uploaded[project]) - self.deleted[project] - self.hostile[project])
        if not names:
            return
        name = random.Random(seed).choice(names)
        try:
            self.store.delete("datasets", f"{project}/{name}")
            self.store.delete("datasets", f"{project}/" + name.replace("JPEGImages/", "Annotations/").replace(
                ".jpg", ".xml"))
        except Exception as exc:
            self.history.add("delete failed", project=project, image=name, error=str(exc)[:200])
            return
        self.deleted[project].add(name)
        self.history.add("delete", project=project, image=name)

    def _fix_annotation(self, project: str, seed: int) -> None:
        """A labeller corrects a box: one uploaded image's annotation rewritten with its first box moved."""
        names = sorted(set(self.uploaded[project]) - self.deleted[project] - self.hostile[project])
        if not names:
            return
        image = random.Random(seed).choice(names)
        annotation = f"{project}/" + image.replace("JPEGImages/", "Annotations/").replace(".jpg", ".xml")
        try:
            xml = self.store.read("datasets", annotation).data.decode()
            start = xml.index("<xmin>") + len("<xmin>")
            end = xml.index("</xmin>", start)
            moved = xml[:start] + str(int(xml[start:end]) + random.Random(seed).randint(1, 3)) + xml[end:]
            self.store.write("datasets", annotation, moved.encode())
        except Exception as exc:
            self.history.add("annotation fix failed", project=project, image=image, error=str(exc)[:200])
            return
        self.fixes += 1
        self.history.add("annotation fixed", project=project, image=image)

    def _approve(self) -> None:
        for link in self.inbox.links():
            if link in self.decided:
                continue
            try:
                status, said = decide_through_page(link, "chaos soak")
            except OSError:
                return  # local mode down: the next pass tries again
            self.decided.add(link)
            self.history.add("approved", status=status, said=said[:120])

    # -- faults ------------------------------------------------------------------------------------------------------

    def _kill_trainer(self) -> None:
        """SIGKILL one project's trainer (one job lost, as to a preemption)."""
        by_project: dict[str, list[int]] = {}
        for pid in self.twin.pids("trainer_image.train"):
            by_project.setdefault(cmdline(pid).split("tfrecord-cache/", 1)[-1].split(" ", 1)[0], []).append(pid)
        if not by_project:
            return
        project = random.Random(len(self.history.events)).choice(sorted(by_project))
        completed = {r["batch_id"] for r in (self.twin.status(project) or {}).get("runs") or []
                     if r.get("status") == "Completed"}
        for pid in by_project[project]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.trainer_kills.append((time.monotonic() - self.history.started, project, completed))
        self.faults["kill-trainer"] += 1
        self.history.add("fault: trainer killed", pids=by_project[project], project=project)

    def _releasing(self, kind: str, projects: tuple[str, ...] = PROJECTS) -> bool:
        """Whether a release of one of `projects` is under way; until a fault of `kind` has struck one, waits up to
        RELEASE_WAIT seconds for one (approving what comes), so each kind also strikes mid-release."""
        deadline = time.monotonic() + (0 if self.faults[f"{kind} mid-release"] else RELEASE_WAIT)
        while True:
            if any(((self.twin.status(p) or {}).get("endpoint") or {}).get("phase") in RELEASING for p in projects):
                return True
            if time.monotonic() >= deadline:
                return False
            self._approve()
            time.sleep(0.5)

    def _kill_local_mode(self) -> None:
        mid_release = self._releasing("kill-local-mode")
        killed = time.monotonic() - self.history.started
        self.twin.kill()
        self.faults["kill-local-mode" + (" mid-release" if mid_release else "")] += 1
        self.history.add("fault: local mode killed", mid_release=mid_release)
        time.sleep(2)
        self.twin.start()
        self.store = AzureBlobStore.from_settings(Settings(storage_connection_string=self.twin.info[
            "connection_string"]))
        back = time.monotonic() - self.history.started
        self.down.append((killed, back))
        self.recoveries.setdefault("kill-local-mode: answering again", []).append(back - killed)
        self.history.add("local mode restarted", seconds=round(back - killed, 1))

    def _pause_azurite(self, seconds: float) -> None:
        pids = self.twin.pids("azurite")
        if not pids:
            return
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        self.faults["pause-azurite"] += 1
        self.history.add("fault: Azurite paused", seconds=seconds)
        time.sleep(seconds)
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        while self.twin.status(PROJECTS[0]) is None and time.monotonic() - resumed < 120:
            time.sleep(0.2)
        self.recoveries.setdefault("pause-azurite: status answering after resume", []).append(
            time.monotonic() - resumed)

    def _kill_endpoint(self, project: str) -> None:
        """SIGKILL an inference server of the project (its whole process group, as a container dies): the live
        one, or during a release either of the two."""
        self._releasing("kill-endpoint", (project,))
        marker = f"/{endpoint_name(Settings(), project)}/"
        pids = [p for p in self.twin.pids("local_mode.inference_server") if marker in cmdline(p)]
        if not pids:
            return
        pid = random.Random(len(self.history.events)).choice(pids)
        slot = cmdline(pid).split(marker, 1)[1].split("/", 1)[0]
        phase = ((self.twin.status(project) or {}).get("endpoint") or {}).get("phase")
        try:
            os.killpg(os.getpgid(pid), signal.SIGKILL)  # the server and its gunicorn worker: one group
        except ProcessLookupError:
            return
        self.faults["kill-endpoint" + (" mid-release" if phase in RELEASING else "")] += 1
        self.endpoint_kills.append((time.monotonic() - self.history.started, project))
        self.history.add("fault: inference server killed", project=project, slot=slot, phase=phase)

    def _order(self, fault: str, **detail: Any) -> None:
        self.twin.order(fault, **detail)
        self.faults[fault] += 1
        self.history.add(f"fault ordered: {fault}", **detail)

    def _drop_events(self, count: int) -> None:
        self._order("drop-events", count=count)

    def _duplicate_events(self) -> None:
        self._order("duplicate-events", count=1)

    def _reorder_events(self, seconds: float) -> None:
        self._order("reorder-events", count=1, seconds=seconds)

    def _lose_completion(self) -> None:
        self._order("lose-completion", count=1)

    def _skew_clock(self, seconds: float) -> None:
        self._order("skew-clock", seconds=seconds)

    # -- the end -----------------------------------------------------------------------------------------------------

    def _settle(self) -> bool | str:
        """No fault, no new upload: wait until every project is idle, nothing waits for approval or release."""
        deadline, last = time.monotonic() + self.args.settle_minutes * 60, ""
        while time.monotonic() < deadline:
            self._approve()
            busy = [f"{p}: {why}" for p in PROJECTS if (why := self._busy(p))]
            if not busy:
                self.history.add("settled")
                return True
            if "; ".join(busy) != last:
                self.history.add("settling", busy=busy)
            last = "; ".join(busy)
            time.sleep(2)
        return last

    def _busy(self, project: str) -> str:
        shown = self.twin.status(project)
        if shown is None:
            return "status does not answer"
        window, pending = shown.get("window") or {}, shown.get("pending") or {}
        if window.get("phase") != "idle" or pending.get("changes"):
            return f"window {window.get('phase')}, {pending.get('changes')} changes ({window.get('next')}: " \
                   f"{window.get('reason')})"
        endpoint = shown.get("endpoint") or {}
        if endpoint.get("phase") in ("requested", "provisioning", "shadowing", "awaiting-approval", "baking"):
            return f"release {endpoint['phase']}"
        if any(r.get("model_state") == "pending-approval" for r in self._runs(project)):
            return "a version waits for approval"
        return ""

    def _check(self) -> list[str]:
        violations: list[str] = []
        for project in PROJECTS:
            violations += self._check_project(project)
        violations += self._check_scoring() + self._check_log()
        return violations

    def _runs(self, project: str) -> list[dict[str, Any]]:
        """Every run of the project as the status shows one (the status itself shows the latest 20)."""
        settings = Settings(storage_connection_string=self.twin.info["connection_string"])
        return [run_view(r) for r in Records(AzureTableStore.from_settings(settings), settings).runs(project)]

    def _check_project(self, project: str) -> list[str]:
        shown = self.twin.status(project) or {}
        runs = self._runs(project)
        out = []
        if not self.uploaded[project]:
            return out
        completed = [r for r in runs if r.get("status") == "Completed"]
        if not completed:
            return [f"{project}: no completed run; runs: {[(r['batch_id'], r.get('status')) for r in runs]}"]
        # the run that trained what the project counts as trained last (batch ids are claim times, and a tick's
        # clock may have been skewed)
        trained_version = shown.get("trained_dataset_version")
        latest = next((r for r in completed if r.get("dataset_version") == trained_version), None)
        if latest is None:
            return [f"{project}: no completed run trained dataset {trained_version}"]
        manifest_blob = latest["manifest"]
        index = load_manifest(self.store.read("manifests", manifest_blob).data)
        folder = manifest_blob.rsplit("/", 1)[0]
        entries = list(iter_entries(index, lambda rel: self.store.read("manifests", f"{folder}/{rel}").data))
        trained = {e["image"]["name"].split("/", 1)[1] for e in entries}
        if stale := self._stale(entries):
            out.append(f"{project}: {len(stale)} files of the latest trained manifest are not the folder's current "
                       f"version (a change never trained), e.g. {stale[:3]} (run {latest['batch_id']})")
        reasons = {info.name.split("/", 1)[1] for info in self.store.list("quarantine", f"{project}/")
                   if info.name.endswith(".reason.json")}

        def quarantined(image: str) -> bool:
            """The image, or the annotation it came with, copied to quarantine with its reason."""
            annotation = image.replace("JPEGImages/", "Annotations/").rsplit(".", 1)[0] + ".xml"
            return any(r.startswith((f"{image}.", f"{annotation}.")) for r in reasons)

        alive_names = set(self.uploaded[project]) - self.deleted[project]
        missing = sorted(n for n in alive_names if n not in trained and not quarantined(n))
        if missing:
            out.append(f"{project}: {len(missing)} uploaded images neither trained on nor quarantined, e.g. "
                       f"{missing[:3]} (latest run {latest['batch_id']})")
        if leaked := sorted(self.deleted[project] & trained):
            out.append(f"{project}: deleted images in the latest manifest: {leaked[:3]}")
        versions = Counter(r.get("dataset_version") for r in completed)
        if doubled := [v for v, n in versions.items() if n > 1]:
            out.append(f"{project}: one dataset version trained twice: {doubled}")
        registered = Counter(r.get("model_version") for r in runs if r.get("model_version"))
        if twice := [v for v, n in registered.items() if n > 1]:
            out.append(f"{project}: model version registered by two runs: {twice}")
        settled_states = ("deployed", "retired", "rejected")
        for run in runs:
            if run.get("approver") and run.get("model_state") not in settled_states and not run.get("deploy_reason"):
                out.append(f"{project}: approved version {run.get('model_version')} is {run.get('model_state')} "
                           "with no reason recorded")
        deployed = [r.get("model_version") for r in runs if r.get("model_state") == "deployed"]
        live = ((shown.get("endpoint") or {}).get("live_model") or {}).get("version")
        if deployed != ([live] if live else []):
            out.append(f"{project}: the endpoint serves version {live}; versions marked deployed: {deployed}")
        released = [r for r in runs if r.get("approver") and r.get("model_state") in ("deployed", "retired")]
        if released and live != max(released, key=lambda r: r["deployed_at"] or "").get("model_version"):
            out.append(f"{project}: the endpoint serves version {live}, not the latest approved one that stayed live")
        return out

    def _stale(self, entries: list[dict[str, Any]]) -> list[str]:
        """Images and annotations whose ETag in the manifest is not the blob's now (fixed boxes never trained)."""
        stale = []
        for entry in entries:
            for ref in (entry["image"], entry.get("annotation")):
                if ref and ref.get("etag") and "file" not in ref:  # not an item of a collection file
                    info = self.store.info("datasets", ref["name"])
                    if info is None or info.etag != ref["etag"]:
                        stale.append(ref["name"])
        return stale

    def _check_scoring(self) -> list[str]:
        bad = [r for r in self.scoring.results if r[2] == "hung" or (isinstance(r[2], str) and "reason" in r[2])]
        return [f"{len(bad)} scoring requests hung or failed without a reason, e.g. {bad[:3]}"] if bad else []

    def _check_log(self) -> list[str]:
        broken = []
        for number, raw in enumerate(self.twin.log.read_text(errors="replace").splitlines(), 1):
            try:
                line = json.loads(raw)
            except ValueError:
                broken.append(f"line {number} is not JSON: {raw[:80]}")
                continue
            events = log_contract.BY_MESSAGE.get(line.get("message"), ())
            ours = line.get("logger", "").startswith(("shared", "function_app", "local_mode", "trainer_image"))
            if ours and line.get("level") in {e.level for e in events} and (
                    missing := set(log_contract.required(line["message"], line["level"])) - set(line)):
                broken.append(f"line {number} {line['message']!r} lacks {sorted(missing)}")
        return [f"{len(broken)} log lines break the contract, e.g. {broken[:3]}"] if broken else []

    def _figures(self, violations: list[str]) -> dict[str, Any]:
        results = self.scoring.results
        outages = self._endpoint_outages()
        counted = [r for r in results if not any(a <= r[0] <= b + 5 for a, b in self.down)
                   and not any(p == r[1] and a <= r[0] <= b for a, b, p in outages)]
        ok = sum(isinstance(r[2], int) and r[2] < 300 for r in counted)
        during = sorted(r[3] for r in counted if any(a <= r[0] <= b for a, b in self.releasing))
        quiet = sorted(r[3] for r in counted if not any(a <= r[0] <= b for a, b in self.releasing))
        struck, from_log = self._from_log()
        recoveries = {k: v for k, v in self.recoveries.items()} | from_log
        recoveries["kill-endpoint: the project's scoring answered 2xx again"] = [b - a for a, b, _ in outages]
        return {"seed": self.args.seed, "minutes": self.args.minutes, "faults": dict(self.faults),
                "faults_struck": struck, "violations": violations, "uploads": self.uploads,
                "annotation_fixes": self.fixes, "runs_per_upload": self._runs_per_upload(),
                "scoring": {"requests": len(results), "outside_injected_outages": len(counted),
                            "answered_2xx": ok, "availability": round(ok / len(counted), 5) if counted else None,
                            "kinds": dict(Counter(str(r[2]) for r in results)),
                            "p99_ms_during_releases": _p99(during), "p99_ms_quiet": _p99(quiet)},
                "recovery_seconds": {k: {"count": len(v), "median": round(statistics.median(v), 1),
                                         "max": round(max(v), 1)} for k, v in recoveries.items() if v},
                "projects": {p: self._summary(p) for p in PROJECTS},
                "history_tail": self.history.around(last=10) if violations else []}

    def _runs_per_upload(self) -> float | None:
        """Training runs started (skipped flushes are none) per upload batch: what the debounce saves."""
        runs = sum(1 for p in PROJECTS for r in self._runs(p)
                   if r.get("status") != "Skipped")
        return round(runs / self.uploads, 2) if self.uploads else None

    def _endpoint_outages(self) -> list[tuple[float, float, str]]:
        """(killed, first 2xx after, project) of each inference server killed; until the end when none came."""
        end = time.monotonic() - self.history.started
        outages = []
        for at, project in self.endpoint_kills:
            back = [r[0] for r in self.scoring.results if r[1] == project and r[0] > at and isinstance(r[2], int)
                    and r[2] < 300]
            outages.append((at, min(back, default=end), project))
        return outages

    def _from_log(self) -> tuple[dict[str, int], dict[str, list[float]]]:
        """What the ordered faults did, from the service's own log: how often each struck, and how long the
        service took to notice a lost event (a lost run end: reconciled; lost blob events: found by listing)."""
        struck: Counter[str] = Counter()
        lost: dict[str, list[float]] = {"run events": [], "blob events": []}
        found: dict[str, list[float]] = {"run events": [], "blob events": []}
        for raw in self.twin.log.read_text(errors="replace").splitlines():
            try:
                line = json.loads(raw)
                moment = datetime.fromisoformat(line["time"]).timestamp()
            except (ValueError, KeyError):
                continue
            message = line.get("message", "")
            if message.startswith("chaos: ") and message != "chaos: fault armed":
                struck[message.removeprefix("chaos: ")] += 1
            if message == "chaos: run events lost":
                lost["run events"].append(moment)
            elif message == "chaos: blob event dropped":
                lost["blob events"].append(moment)
            elif message == "run reconciled: its end was never delivered":
                found["run events"].append(moment)
            elif message == "changes found by listing: their events never arrived":
                found["blob events"].append(moment)
        names = {"run events": "lose-completion: the run's end reconciled",
                 "blob events": "drop-events: the change found by listing"}
        return dict(struck), {names[k]: [min(f for f in found[k] if f >= t) - t for t in lost[k]
                                         if any(f >= t for f in found[k])] for k in lost}

    def _summary(self, project: str) -> dict[str, Any]:
        """What the project ended with: its runs by outcome, versions by state, the live version."""
        shown = self.twin.status(project) or {}
        runs = self._runs(project)
        return {"runs": dict(Counter(f"{r.get('status')}" + (f" ({r['failure']})" if r.get("failure") else "")
                                     for r in runs)),
                "versions": dict(Counter(r.get("model_state") for r in runs if r.get("model_version"))),
                "live": ((shown.get("endpoint") or {}).get("live_model") or {}).get("version"),
                "releases_rolled_back": [r.get("deploy_reason") for r in runs if r.get("deploy_reason")]}


def _p99(ordered: list[float]) -> float | None:
    return round(ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000, 1) if ordered else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=4.0, help="length of the schedule")
    parser.add_argument("--settle-minutes", type=float, default=15.0)
    parser.add_argument("--steps", type=int, default=30, help="training steps of each run")
    parser.add_argument("--work-dir", help="keep the data, logs and service log here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work_dir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        figures = Soak(args, work).run()
    print(json.dumps(figures, indent=2))  # stdout: the summary only; the schedule and history went to stderr
    sys.exit(1 if figures["violations"] else 0)


if __name__ == "__main__":
    main()
