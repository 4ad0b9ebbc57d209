"""The dataset validation endpoint, called with a real HttpRequest against Azurite."""

import pytest

from function_app import bootstrap
from local_mode.demo_data import vott_export
from tests.function_host import handler, http_request, json_body


@pytest.fixture
def wired(settings, blob_store, table_store):
    bootstrap.use(bootstrap.Services(settings, blob_store, table_store))
    yield settings
    bootstrap.use(None)


def test_validate_returns_the_report_and_publishes_on_request(wired, blob_store):
    blob_store.ensure_container(wired.datasets_container)
    for name, data in vott_export(8, seed=3).items():
        blob_store.write(wired.datasets_container, f"birds/{name}", data)
    blob_store.write(wired.datasets_container, "birds/Annotations/bad.xml", b"<annotation><object>")

    validate = handler("validate_dataset")
    response = validate(http_request("POST", "/api/datasets/birds/validate", route_params={"project": "birds"},
                                     params={"publish": "true"}))
    assert response.status_code == 200
    report = json_body(response)
    assert report["counts"]["images"] == 8
    assert [(q["file"], q["field"]) for q in report["quarantined"]] == [("birds/Annotations/bad.xml", "filename")]
    assert report["manifest_blob"] == f"{wired.manifests_container}/birds/{report['dataset_version']}.json"


def test_unknown_project_is_404(wired):
    response = handler("validate_dataset")(
        http_request("POST", "/api/datasets/nobody/validate", route_params={"project": "nobody"}))
    assert response.status_code == 404
    assert "no usable images under nobody/" in json_body(response)["error"]
