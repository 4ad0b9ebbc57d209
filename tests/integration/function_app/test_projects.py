"""The project page and the projects index, called as the host calls them on Azurite, and looked at in headless
Chromium: a project of 1,000 runs (paged), ten versions with per-class AP, a run training with its ETA, an approval
waiting and a live endpoint; its name and a class name are hostile HTML."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import uuid
from urllib.parse import quote, urlsplit

import pytest

from function_app import bootstrap
from local_mode.demo_history import write_history
from local_mode.functions_host import FunctionsHost
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.project_page import CONTENT_SECURITY_POLICY
from shared.settings import Settings
from tests.browser import chromium, screenshot
from tests.function_host import handler, http_request

pytestmark = pytest.mark.azurite

PROJECT = "<img src=x onerror=alert(1)> birds"
CLASS = "<script>alert(2)</script>"
RUNS, VERSIONS = 1000, 10


@pytest.fixture(scope="module")
def seeded(azurite_connection_string):
    """Tables and containers of their own, holding one busy project's history (written once for the module)."""
    suffix = uuid.uuid4().hex[:8]
    settings = Settings(storage_connection_string=azurite_connection_string, datasets_container=f"datasets-{suffix}",
                        ledger_table=f"l{suffix}", state_table=f"s{suffix}", runs_table=f"r{suffix}",
                        releases_table=f"e{suffix}")
    blob_store, table_store = AzureBlobStore.from_settings(settings), AzureTableStore.from_settings(settings)
    write_history(settings, blob_store, table_store, PROJECT, runs=RUNS, versions=VERSIONS, classes=("circle", CLASS))
    blob_store.write(settings.datasets_container, "quiet/a.jpg", b"an image")
    bootstrap.use(bootstrap.Services(settings, blob_store, table_store))
    yield settings
    bootstrap.use(None)


def _page(project: str | None = None, **params: str):
    route = {"project": project} if project is not None else {}
    path = "/api/projects" + (f"/{quote(project, safe='')}" if project is not None else "")
    return handler("projects")(http_request("GET", path, route_params=route, params=params))


def test_the_page_escapes_names_pages_runs_and_holds_no_key(seeded):
    answer = _page(PROJECT)
    html = answer.get_body().decode()
    assert answer.status_code == 200 and answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<img src=x" not in html and "<script>alert" not in html  # shown as text, never as markup
    assert "&lt;img src=x onerror=alert(1)&gt; birds" in html and "AP &lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "code=" not in html and "token=" not in html  # no function key, no approval link
    runs = html[html.index('<section id="runs">'):]
    assert len(re.findall(r"<td>batch-\d{4}</td>", runs)) == 50 and "<td>batch-0999</td>" in runs
    assert "1000 runs; page 1 of 20" in html and "older runs" in html and "newer runs" not in html
    last = _page(PROJECT, page="20").get_body().decode()
    assert "<td>batch-0000</td>" in last and "page 20 of 20" in last and "older runs" not in last
    assert _page(PROJECT, page="0").status_code == 400
    refused = _page("..")
    assert refused.status_code == 400 and "is not a project folder name" in refused.get_body().decode()


def test_the_index_lists_projects_paged_by_name(seeded):
    first = _page(limit="1").get_body().decode()
    assert "&lt;img src=x" in first and "quiet" not in first and "after=%3Cimg" in first
    second = _page(limit="1", after=PROJECT).get_body().decode()
    assert "quiet" in second and "more projects" not in second


def test_a_person_sees_the_project_at_a_glance(seeded):
    """Chromium opens the page from the local functions host (with the function key in the address, as the portal
    gives it): the ETA of the run training, a chart with labelled axes and one point per version for each series,
    the approval waiting, the live endpoint; the hostile names stay text; 'older runs' keeps the key."""
    from selenium.webdriver.common.by import By

    host = FunctionsHost()
    browser = chromium(height=2600)
    try:
        browser.get(host.url(f"projects/{quote(PROJECT, safe='')}"))
        assert browser.title == f"Project {PROJECT}"  # the name is the title's text: no markup made of it
        eta = browser.find_element(By.ID, "eta").text
        assert "Step 300 of 600" in eta and "ETA 2 min 0 s" in eta, eta
        labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "svg text.axis-label")]
        assert labels == ["model version", "AP on the validation images"]
        ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "svg text.x-tick")]
        assert ticks == [f"v{n}" for n in range(1, VERSIONS + 1)]
        for series in ("mAP@0.5", "golden mAP@0.5", "AP circle", f"AP {CLASS}"):
            points = browser.find_elements(By.CSS_SELECTOR, "circle.point")
            assert len([p for p in points if p.get_attribute("data-series") == series]) == VERSIONS, series
        assert f"AP {CLASS}" in browser.find_element(By.ID, "versions").text
        approvals = browser.find_element(By.ID, "approvals").text
        assert f"approval-link --model {shlex.quote('tfod-' + PROJECT)} --version {VERSIONS}" in approvals
        assert f"tfod-{PROJECT} version {VERSIONS - 1} on slot blue" in browser.find_element(By.ID, "endpoint").text
        releases = browser.find_elements(By.CSS_SELECTOR, "#releases tr")[1:]
        assert len(releases) == VERSIONS - 1 and releases[0].text.startswith(f"v{VERSIONS - 1} ")
        assert "deployed" in releases[0].text and all("retired" in r.text for r in releases[1:])
        screenshot(browser, "project-page.png")
        records = browser.find_element(By.LINK_TEXT, "each release as it was recorded").get_attribute("href")
        assert urlsplit(records).path == f"/api/releases/{quote(PROJECT, safe='')}"
        browser.find_element(By.LINK_TEXT, "older runs").click()
        assert "page 2 of 20" in browser.find_element(By.ID, "runs").text  # the key went along: no 401
    finally:
        browser.quit()
        host.close()


def test_the_release_history_lists_each_live_version_from_when_to_when(seeded):
    route = {"project": PROJECT}
    answer = handler("releases")(http_request("GET", f"/api/releases/{PROJECT}", route_params=route,
                                              headers={"Accept": "application/json"}))
    history = json.loads(answer.get_body())["releases"]
    assert [r["model_version"] for r in history] == [str(v) for v in range(VERSIONS - 1, 0, -1)]  # newest first
    assert history[0]["live_to"] is None and all(older["live_to"] == newer["live_from"]
                                                 for newer, older in itertools.pairwise(history))
    page = handler("releases")(http_request("GET", f"/api/releases/{PROJECT}", route_params=route))
    html = page.get_body().decode()
    assert page.mimetype == "text/html" and html.count("<tr><td>v") == VERSIONS - 1 and "to now" in html
    assert "&lt;img src=x" in html and "<img src=x" not in html  # the hostile project name stays text
    refused = handler("releases")(http_request("GET", "/api/releases/..", route_params={"project": ".."}))
    assert refused.status_code == 400


def test_behind_app_service_sign_in_a_person_signs_in_first(seeded):
    """Where App Service authentication runs in front of the app, the function key alone does not open the page."""
    import base64
    import json

    bootstrap.use(bootstrap.Services(seeded.with_overrides(auth_enabled=True), *_stores(seeded)))
    try:
        anonymous = handler("projects")(http_request("GET", "http://h/api/projects?limit=5", params={"limit": "5"}))
        assert anonymous.status_code == 302
        assert anonymous.headers["Location"] == "/.auth/login/aad?post_login_redirect_uri=%2Fapi%2Fprojects%3Flimit%3D5"
        principal = base64.b64encode(json.dumps({"claims": [{"typ": "preferred_username", "val": "ana@contoso.com"}]})
                                     .encode()).decode()
        person = handler("projects")(http_request("GET", "http://h/api/projects", headers={
            "X-MS-CLIENT-PRINCIPAL": principal}))
        assert person.status_code == 200 and "quiet" in person.get_body().decode()
    finally:
        bootstrap.use(bootstrap.Services(seeded, *_stores(seeded)))


def _stores(settings: Settings) -> tuple[AzureBlobStore, AzureTableStore]:
    return AzureBlobStore.from_settings(settings), AzureTableStore.from_settings(settings)
