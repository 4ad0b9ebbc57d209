"""The Label Studio adapter against a real Label Studio: projects kept in step with the label map, tasks pushed once
with the model's boxes as predictions in rank order, the annotation webhook registered, its personal access token
refreshed as the API asks."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from shared.adapters.label_studio import LabelStudio, LabelStudioError, project_title
from shared.ports import LabellingTask


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def box(label: str, x: float = 10.0) -> dict:
    return {"id": f"p-{label}", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": 64, "original_height": 48, "image_rotation": 0, "score": 0.41,
            "value": {"x": x, "y": 10.0, "width": 30.0, "height": 40.0, "rotation": 0, "rectanglelabels": [label]}}


def task(name: str, rank: int, label: str = "circle") -> LabellingTask:
    return LabellingTask(name=name, image=jpeg((rank * 40 % 255, 90, 20)), rank=rank, model_version="tfod-x:3",
                         score=1.0 / rank, result=[box(label)])


@pytest.fixture
def tool(label_studio) -> LabelStudio:
    return LabelStudio(label_studio.url, label_studio.token)


@pytest.fixture
def project() -> str:
    return f"shapes-{uuid.uuid4().hex[:6]}"


def test_a_project_is_made_from_the_label_map_and_gains_new_classes_without_losing_any(tool, project):
    first = tool.ensure_project(project, ["circle", "square"])
    again = tool.ensure_project(project, ["circle", "square"])
    assert again == first and first.url.endswith(f"/projects/{first.id}/data")
    widened = tool.ensure_project(project, ["square", "triangle"])  # a class added; circle still annotated
    stored = tool._call("GET", f"/api/projects/{first.id}").json()
    assert widened.id == first.id and stored["title"] == project_title(project)
    assert stored["parsed_label_config"]["label"]["labels"] == ["circle", "square", "triangle"]


def test_tasks_arrive_in_rank_order_with_predictions_and_a_second_push_adds_nothing(tool, project):
    target = tool.ensure_project(project, ["circle", "square"])
    pushed = tool.push(target, [task("production-bbbb", 2, "square"), task("production-aaaa", 1)])
    assert pushed == {"pushed": 2, "already_there": 0}
    assert tool.push(target, [task("production-aaaa", 1), task("production-cccc", 3)]) == {
        "pushed": 1, "already_there": 1}
    tasks = sorted(tool.tasks(target.id), key=lambda t: t["id"])
    assert [t["data"]["name"] for t in tasks] == ["production-aaaa", "production-bbbb", "production-cccc"]
    assert [t["data"]["rank"] for t in tasks] == [1, 2, 3] and all(t["total_predictions"] == 1 for t in tasks)
    predictions = tool._call("GET", "/api/predictions/", params={"task": tasks[1]["id"]}).json()
    assert predictions[0]["model_version"] == "tfod-x:3"
    assert predictions[0]["result"][0]["value"]["rectanglelabels"] == ["square"]
    image = tool.image(tasks[0]["data"]["image"])
    assert tasks[0]["data"]["image"].startswith("/data/upload/") and Image.open(io.BytesIO(image)).size == (64, 48)


def test_an_export_larger_than_one_upload_call_arrives_whole_and_in_order(tool, project):
    """Label Studio refuses more than DATA_UPLOAD_MAX_NUMBER_FILES (100) files in one call; LABELLING_MAX_IMAGES is
    200 by default: the push uploads in slices."""
    target = tool.ensure_project(project, ["circle"])
    batch = [task(f"prod-{i:04d}", i) for i in range(1, 201)]  # two full pages of the task list, exactly
    assert tool.push(target, list(reversed(batch))) == {"pushed": 200, "already_there": 0}
    tasks = sorted(tool.tasks(target.id), key=lambda t: t["id"])
    assert [t["data"]["rank"] for t in tasks] == list(range(1, 201))
    assert len({t["data"]["image"] for t in tasks}) == 200
    assert tool.push(target, batch) == {"pushed": 0, "already_there": 200}


def test_the_webhook_is_registered_once_with_its_secret(tool, project):
    target = tool.ensure_project(project, ["circle"])
    url = f"http://127.0.0.1:9/api/labelling/{project}/label-studio"
    tool.ensure_webhook(target, url, "first-secret")
    tool.ensure_webhook(target, url, "second-secret")  # a rotated secret updates the same hook
    hooks = tool._call("GET", "/api/webhooks/", params={"project": target.id}).json()
    assert len(hooks) == 1 and hooks[0]["headers"] == {"X-Label-Studio-Secret": "second-secret"}
    assert sorted(hooks[0]["actions"]) == ["ANNOTATIONS_DELETED", "ANNOTATION_CREATED", "ANNOTATION_UPDATED"]


def test_an_expired_access_token_is_refreshed_and_a_wrong_token_is_named(tool, label_studio, project):
    tool.ensure_project(project, ["circle"])
    tool._access = tool._access[:-4] + "AAAA"  # a rejected access token: refreshed once, the call goes through
    assert any(p["title"] == project_title(project) for p in tool._pages("/api/projects", "results"))
    forged = label_studio.token[:-4] + "AAAA"
    with pytest.raises(LabelStudioError, match="LABEL_STUDIO_TOKEN"):
        LabelStudio(label_studio.url, forged).ensure_project(project, ["circle"])


def test_label_studio_down_is_a_clear_error_naming_it():
    with pytest.raises(LabelStudioError, match="did not answer"):
        LabelStudio("http://127.0.0.1:9", "0" * 40, timeout=2).ensure_project("p", ["a"])
