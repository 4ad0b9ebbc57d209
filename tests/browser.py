"""Debian's Chromium, headless, for the tests that look at pages the way people do; screenshots go to
test-artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def chromium(height: int = 1600) -> Any:
    """Driven through Debian's own chromedriver (nothing downloaded)."""
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size=1200,{height}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def screenshot(browser: Any, name: str) -> Path:
    """The whole page as a PNG in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    browser.save_screenshot(str(path))
    return path
