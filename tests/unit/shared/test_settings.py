import pytest

from shared.settings import Settings, SettingsError, documented_settings


def test_defaults_and_typed_overrides_from_environment():
    settings = Settings.from_env({"VALIDATION_FRACTION": "0.1", "MAX_IMAGE_PIXELS": "1000", "DataStorage": "x"})
    assert settings.validation_fraction == 0.1
    assert settings.max_image_pixels == 1000
    assert settings.storage_connection_string == "x"
    assert settings.datasets_container == "datasets"


def test_bad_value_names_the_variable():
    with pytest.raises(SettingsError, match="MAX_IMAGE_PIXELS='lots' is not a valid int"):
        Settings.from_env({"MAX_IMAGE_PIXELS": "lots"})


def test_export_formats_are_read_as_a_list_and_an_unknown_one_is_refused_by_name():
    assert Settings.from_env({"EXPORT_FORMATS": " ONNX, onnx "}).exports == ("onnx",)
    assert Settings().exports == ("onnx",) and Settings.from_env({"EXPORT_FORMATS": ""}).exports == ("onnx",)
    assert Settings(export_formats="").exports == ()
    with pytest.raises(SettingsError, match="EXPORT_FORMATS='onnx,coreml': coreml is not a format the trainer"):
        Settings.from_env({"EXPORT_FORMATS": "onnx,coreml"})


def test_every_setting_has_a_variable_and_a_meaning():
    rows = documented_settings()
    assert len({name for name, _, _ in rows}) == len(rows)
    assert all(doc.strip() for _, _, doc in rows)
