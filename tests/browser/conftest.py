"""Fixtures for the browser tests of the dashboard (tests/browser/).

`browser` is a headless Chromium driven by Selenium through Debian's
chromium-driver (/usr/bin/chromedriver); it skips when either is missing
(scripts/setup.sh installs both).  tests/http is put on sys.path so the
helpers there (Serve, Load, the generated models) are shared, not copied.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))

CHROMEDRIVER = os.environ.get("ROMA_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("ROMA_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser():
    """A headless Chromium at 1400x1000 (a laptop screen), with its console log kept."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMEDRIVER).is_file() and Path(CHROMIUM).is_file()):
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def copy_artifact(src: Path, name: str) -> Path:
    """Copies a test artifact into <project>/results/ (made if needed)."""
    results = Path(__file__).resolve().parents[2] / "results"
    results.mkdir(exist_ok=True)
    dst = results / name
    shutil.copyfile(src, dst)
    return dst
