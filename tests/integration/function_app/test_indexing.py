"""The app loads the way the Functions worker loads it, and lists every function and its trigger."""

from tests.function_host import index_app

EXPECTED = {
    "approvals": ("httpTrigger", {"route": "approvals", "authLevel": "ANONYMOUS"}),  # the link is the credential
    "blob_events": ("httpTrigger", {"route": "events/blobs", "authLevel": "FUNCTION"}),
    "debounce_tick": ("timerTrigger", {"schedule": "%DEBOUNCE_SCHEDULE%"}),
    "run_events": ("eventGridTrigger", {}),
    "status": ("httpTrigger", {"route": "status/{project?}", "authLevel": "FUNCTION"}),
    "projects": ("httpTrigger", {"route": "projects/{project?}", "authLevel": "FUNCTION"}),  # the page people read
    "releases": ("httpTrigger", {"route": "releases/{project}", "authLevel": "FUNCTION"}),  # each release recorded
    "reports": ("httpTrigger", {"route": "reports/{project}/{batch_id}", "authLevel": "FUNCTION"}),
    "release_tick": ("timerTrigger", {"schedule": "%RELEASE_SCHEDULE%"}),
    "labelling_tick": ("timerTrigger", {"schedule": "%LABELLING_SCHEDULE%"}),
    "export_for_labelling": ("httpTrigger", {"route": "labelling/{project}/export", "authLevel": "FUNCTION"}),
    "label_studio_webhook": ("httpTrigger", {"route": "labelling/{project}/label-studio",
                                             "authLevel": "ANONYMOUS"}),
    "base_models": ("httpTrigger", {"route": "base-models", "authLevel": "FUNCTION"}),
    "dead_letter_tick": ("timerTrigger", {"schedule": "%DEAD_LETTER_SCHEDULE%"}),
    "relay_alert": ("httpTrigger", {"route": "alerts", "authLevel": "FUNCTION"}),
    "validate_dataset": ("httpTrigger", {"route": "datasets/{project}/validate", "authLevel": "FUNCTION"}),
}


def test_worker_indexes_every_function_with_its_trigger():
    indexed = index_app()
    triggers = {}
    for function in indexed["functions"]:
        (trigger,) = [b for b in function["bindings"] if b["type"].endswith("Trigger")]
        triggers[function["name"]] = trigger
    assert set(triggers) == set(EXPECTED)
    for name, (kind, fields) in EXPECTED.items():
        assert triggers[name]["type"] == kind
        for key, value in fields.items():
            assert str(triggers[name][key]).upper() == str(value).upper(), (name, key, triggers[name])


def test_function_app_does_not_load_tensorflow():
    assert index_app()["heavy_modules"] == []


def test_the_default_script_name_would_not_find_the_app():
    """Guards the PYTHON_SCRIPT_FILE_NAME setting: without it the worker looks for function_app.py."""
    import pytest

    with pytest.raises(AssertionError, match="does not exist"):
        index_app(script="function_app.py")
