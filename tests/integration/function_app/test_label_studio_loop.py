"""The labelling loop ending in a real Label Studio, through the function app's routes as the host calls them, on
Azurite: an export becomes tasks with the model's boxes; a labeller's submit, made through the API the browser
uses, comes back by Label Studio's own webhook call into `datasets/<project>/label-studio/`; corrections overwrite,
deletions and skips remove, a replay changes nothing, a wrong secret is refused, an outage leaves the export
pending until the next tick."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import azure.functions as func
import pytest
from PIL import Image

from function_app import bootstrap
from local_mode.label_studio import USER
from shared import palette
from shared.adapters.label_studio import LabelStudio, project_title
from shared.dataset.formats.label_studio import read_label_studio
from shared.dataset.service import DatasetBuilder
from tests.browser import chromium, screenshot
from tests.function_host import handler, http_request, json_body
from tests.integration.function_app.test_labelling_routes import live  # noqa: F401 - the fixture

pytestmark = pytest.mark.azurite
SECRET = "webhook-secret-" + uuid.uuid4().hex[:8]


class Catcher(BaseHTTPRequestHandler):
    """Stands where the function app's public URL would be: keeps what Label Studio sends, for the test to hand
    to the function exactly as received."""

    calls: queue.Queue = queue.Queue()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.calls.put((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def catcher():
    server = HTTPServer(("127.0.0.1", 0), Catcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture
def loop(live, catcher, label_studio, blob_store, table_store):  # noqa: F811
    settings = live.with_overrides(label_studio_url=label_studio.url, label_studio_token=label_studio.token,
                                   label_studio_webhook_secret=SECRET, datasets_container=live.datasets_container,
                                   public_host=f"127.0.0.1:{catcher.server_port}")
    blob_store.ensure_container(settings.datasets_container)
    bootstrap.use(bootstrap.Services(settings, blob_store, table_store))
    yield settings
    bootstrap.use(None)
    tool = LabelStudio(label_studio.url, label_studio.token)  # the next test starts from an empty project
    for found in tool._pages("/api/projects", "results"):
        if found["title"] == project_title("birds"):
            tool._call("DELETE", f"/api/projects/{found['id']}/")
    while not Catcher.calls.empty():
        Catcher.calls.get()


def webhook_call(catcher_queue, action: str, timeout: float = 30.0) -> func.HttpRequest:
    """The next call Label Studio made for `action`, as the Functions host would hand it to the function."""
    while True:
        path, headers, body = catcher_queue.get(timeout=timeout)
        if json.loads(body)["action"] == action:
            return http_request("POST", path, body=body, headers=headers,
                                route_params={"project": path.split("/")[3]})


def export(project: str = "birds") -> dict:
    answer = handler("export_for_labelling")(http_request("POST", f"/api/labelling/{project}/export",
                                                          route_params={"project": project}))
    assert answer.status_code == 200, answer.get_body()
    return json_body(answer)


def labelling_view(label_studio, project_id: int, task_id: int) -> tuple[list[str], dict, Image.Image]:
    """What a labeller sees on opening the task in Label Studio (logged in through its own form): the regions
    listed beside the image, where the image sits on the page, and the page as a PNG (kept in test-artifacts/)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium(height=900)
    try:
        browser.get(f"{label_studio.url}/user/login/")
        browser.find_element(By.NAME, "email").send_keys(USER)
        browser.find_element(By.NAME, "password").send_keys(label_studio.password)
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(browser, 30).until(lambda b: "/user/login" not in b.current_url)
        browser.get(f"{label_studio.url}/projects/{project_id}/data?task={task_id}")
        WebDriverWait(browser, 90).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".lsf-outliner-item"))
        regions = [e.text.replace("\n", " ") for e in browser.find_elements(By.CSS_SELECTOR, ".lsf-outliner-item")]
        where = browser.execute_script("const r = document.querySelector('img[alt=image]').getBoundingClientRect();"
                                       "return {x: r.x, y: r.y, width: r.width, height: r.height};")
        path = screenshot(browser, "label-studio-labelling-view.png")
    finally:
        browser.quit()
    return regions, where, Image.open(path).convert("RGB")


def drawn_box(page: Image.Image, where: dict, colour: str, tolerance: int = 40) -> tuple[float, ...]:
    """The box drawn in `colour` over the image, in percent of the image as Label Studio stores it (x, y, w, h)."""
    image = page.crop((round(where["x"]), round(where["y"]), round(where["x"] + where["width"]),
                       round(where["y"] + where["height"])))
    want = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    pixels = image.load()
    hits = [(x, y) for x in range(image.width) for y in range(image.height)
            if all(abs(a - b) <= tolerance for a, b in zip(pixels[x, y], want, strict=True))]
    assert hits, f"no pixel of {colour} over the image: see test-artifacts/label-studio-labelling-view.png"
    xs, ys = [x for x, _ in hits], [y for _, y in hits]
    return (100 * min(xs) / image.width, 100 * min(ys) / image.height, 100 * (max(xs) - min(xs)) / image.width,
            100 * (max(ys) - min(ys)) / image.height)


def test_an_export_becomes_tasks_and_a_submit_comes_back_into_the_dataset(loop, label_studio, blob_store):
    summary = export()
    pushed = summary["labelling_tool"]
    assert (pushed["pushed"], pushed["already_there"]) == (1, 0)
    tool = LabelStudio(label_studio.url, label_studio.token)
    project_id = int(pushed["tool_project"].rstrip("/").split("/")[-2])
    [task] = list(tool.tasks(project_id))
    assert task["data"]["rank"] == 1 and task["total_predictions"] == 1
    prediction = tool._call("GET", "/api/predictions/", params={"task": task["id"]}).json()[0]
    assert prediction["result"][0]["value"]["rectanglelabels"] == ["circle"]

    # a labeller opening the task sees the model's box drawn where the model put it, in the class's colour
    regions, where, page = labelling_view(label_studio, project_id, task["id"])
    assert regions == [f"1 circle {prediction['result'][0]['score']:.2f}"]
    value = prediction["result"][0]["value"]
    drawn = drawn_box(page, where, palette.colour(0))
    assert drawn == pytest.approx((value["x"], value["y"], value["width"], value["height"]), abs=1.0)
    hooks = tool._call("GET", "/api/webhooks/", params={"project": project_id}).json()
    assert hooks[0]["url"] == f"http://{loop.public_host}/api/labelling/birds/label-studio"

    # the labeller corrects the box and submits, through the API Label Studio's own page calls
    result = [dict(prediction["result"][0], value=dict(prediction["result"][0]["value"], x=20.0, width=25.0))]
    made = tool._call("POST", f"/api/tasks/{task['id']}/annotations/", json={
        "result": result, "was_cancelled": False, "lead_time": 4.2, "parent_prediction": prediction["id"]}).json()
    call = webhook_call(Catcher.calls, "ANNOTATION_CREATED")
    answer = handler("label_studio_webhook")(call)
    assert answer.status_code == 200, answer.get_body()
    name = task["data"]["name"]
    base, image = f"birds/label-studio/{name}", f"birds/label-studio/images/{name}.jpg"
    document = json.loads(blob_store.read(loop.datasets_container, base + ".json").data)
    read = read_label_studio(document)
    assert [o.name for o in read.items[0].objects] == ["circle"]
    assert read.items[0].ref.endswith(f"-{name}.jpg")  # matched to the image beside it by name
    assert blob_store.read(loop.datasets_container, image).data == tool.image(task["data"]["image"])

    build = DatasetBuilder(blob_store, loop, persist=False).build("birds")  # what the next snapshot takes
    assert build.manifest["counts"]["images"] == 1 and build.manifest["counts"]["production"] == 1
    assert not build.report.to_dict()["quarantined"]

    # the same call again (Label Studio retries) rewrites nothing: no new upload event, no new run
    etag = blob_store.info(loop.datasets_container, base + ".json").etag
    assert json_body(handler("label_studio_webhook")(call))["written"] == []
    assert blob_store.info(loop.datasets_container, base + ".json").etag == etag

    # a correction overwrites; a deletion takes the image back out
    tool._call("PATCH", f"/api/annotations/{made['id']}/", json={"result": [dict(result[0], value=dict(
        result[0]["value"], rectanglelabels=["circle"], x=30.0))]})
    handler("label_studio_webhook")(webhook_call(Catcher.calls, "ANNOTATION_UPDATED"))
    corrected = json.loads(blob_store.read(loop.datasets_container, base + ".json").data)
    assert corrected[0]["annotations"][0]["result"][0]["value"]["x"] == 30.0
    tool._call("DELETE", f"/api/annotations/{made['id']}/")
    gone = json_body(handler("label_studio_webhook")(webhook_call(Catcher.calls, "ANNOTATIONS_DELETED")))
    assert gone["removed"] == 2
    assert blob_store.info(loop.datasets_container, base + ".json") is None
    assert blob_store.info(loop.datasets_container, image) is None


def test_a_skipped_task_stays_out_and_a_wrong_secret_is_refused(loop, label_studio, blob_store):
    pushed = export()["labelling_tool"]
    tool = LabelStudio(label_studio.url, label_studio.token)
    [task] = list(tool.tasks(int(pushed["tool_project"].rstrip("/").split("/")[-2])))
    tool._call("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": [], "was_cancelled": True})
    call = webhook_call(Catcher.calls, "ANNOTATION_CREATED")
    assert json_body(handler("label_studio_webhook")(call))["action"] == "removed"
    assert not list(blob_store.list(loop.datasets_container, "birds/label-studio/"))
    forged = http_request("POST", call.url, body=call.get_body(), route_params={"project": "birds"},
                          headers={"X-Label-Studio-Secret": "guess"})
    assert handler("label_studio_webhook")(forged).status_code == 401


def test_label_studio_down_leaves_the_export_pending_and_the_next_tick_pushes_it(loop, label_studio, blob_store,
                                                                                  table_store):
    bootstrap.use(bootstrap.Services(loop.with_overrides(label_studio_url="http://127.0.0.1:9"), blob_store,
                                     table_store))
    summary = export()
    assert summary["labelling_tool"]["pending"] is True and "did not answer" in summary["labelling_tool"]["error"]
    status = json_body(handler("status")(http_request("GET", "/api/status/birds", route_params={"project": "birds"})))
    assert status["labelling"]["tool"]["pending"] == [summary["folder"].split("/", 1)[1]]
    bootstrap.use(bootstrap.Services(loop, blob_store, table_store))  # Label Studio is back
    handler("labelling_tick")(None)
    status = json_body(handler("status")(http_request("GET", "/api/status/birds", route_params={"project": "birds"})))
    assert status["labelling"]["tool"]["pending"] == [] and status["labelling"]["tool"]["last_push"]["pushed"] == 1
