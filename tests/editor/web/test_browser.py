"""End to end in a real headless Chromium (Selenium): upload the astronaut, see one numbered face,
choose joy and 2 s with the keyboard, generate, and wait for the looping video to play.

Needs the distribution's ``chromium`` and ``chromium-driver`` (apt-get install chromium
chromium-driver); skipped with that reason where they are absent. The screenshot of the page with
the video is saved as a test artifact: ``$FACELATENT_ARTIFACTS/serve_e2e.png`` (default: the test's
temporary folder; the path is printed). ``FACELATENT_SCREENSHOT=docs/serve.png`` also writes the
README's screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import ASTRONAUT, REPO, Server

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)
DRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and Path(p).exists()),
              None)
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(DRIVER is None, reason="chromedriver is not installed (apt-get install chromium-driver)"),
]


def browser(width: int = 900, height: int = 1400):
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required", "--mute-audio"):
        options.add_argument(flag)
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("browser") / "data", "--workers", "1")
    yield running
    running.stop()


def test_upload_generate_and_play_in_chromium(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = None
    try:
        driver = browser()
        wait = WebDriverWait(driver, 120, poll_frequency=0.2)
        driver.get(server.url + "/")
        assert "facelatent" in driver.title
        driver.find_element(By.ID, "file").send_keys(str(ASTRONAUT))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".face-box"))
        boxes = driver.find_elements(By.CSS_SELECTOR, ".face-box")
        assert len(boxes) == 1 and boxes[0].text == "1"
        assert boxes[0].size["width"] > 20  # drawn over the photo, not collapsed
        check = driver.find_element(By.ID, "face-0")
        assert check.is_selected() and check.is_enabled()
        assert driver.find_element(By.CSS_SELECTOR, "label[for=face-0]").text.strip() == "Face 1"

        driver.find_element(By.ID, "emotion-joy").click()
        duration = driver.find_element(By.ID, "duration")
        duration.send_keys(Keys.HOME)  # the keyboard: a range input goes to its minimum, 2 s
        assert duration.get_attribute("value") == "2"
        assert driver.find_element(By.ID, "duration-out").text == "2"
        seed = driver.find_element(By.ID, "seed").get_attribute("value")
        assert seed.isdigit()
        for control in driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select"):
            if control.get_attribute("type") == "radio":
                continue  # labelled one by one below
            assert driver.find_elements(By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']"), control
        for radio in driver.find_elements(By.CSS_SELECTOR, "input[type=radio]"):
            assert driver.find_elements(By.CSS_SELECTOR, f"label[for='{radio.get_attribute('id')}']")

        driver.find_element(By.ID, "generate").send_keys(Keys.ENTER)
        labels = set()

        def playing(d):
            labels.add(d.find_element(By.ID, "progress-label").text)
            errors = d.find_element(By.ID, "job-error")
            assert not errors.is_displayed(), errors.text
            return d.execute_script(
                "const v = document.getElementById('video');"
                "return v && v.src && !v.paused && v.currentTime > 0 && v.readyState >= 2 && v.loop ? v.duration : null;")

        duration_s = wait.until(playing)
        assert abs(duration_s - 2.0) < 0.25, duration_s
        assert any(text.startswith(("Waiting", "Detecting", "Planning", "Rendering", "Encoding")) for text in labels), labels
        download = driver.find_element(By.ID, "download")
        assert download.get_attribute("download") == f"facelatent_joy_seed{seed}.mp4"
        history = driver.find_elements(By.CSS_SELECTOR, "#history li")
        assert len(history) == 1 and f"seed {seed}" in history[0].text

        artifacts = Path(os.environ.get("FACELATENT_ARTIFACTS", tmp_path))
        artifacts.mkdir(parents=True, exist_ok=True)
        shot = artifacts / "serve_e2e.png"
        driver.execute_script("document.getElementById('video').scrollIntoView({block: 'center'});")
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot: {shot}")
        assert shot.stat().st_size > 10_000
        if os.environ.get("FACELATENT_SCREENSHOT"):
            _docs_screenshot(driver, REPO / os.environ["FACELATENT_SCREENSHOT"])
    finally:
        if driver is not None:
            driver.quit()


def test_the_page_at_phone_width(server, tmp_path):
    """At 390 px wide nothing overflows sideways, and a non-image gets its one sentence in the page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = None
    try:
        driver = browser(390, 844)
        driver.get(server.url + "/")
        not_image = tmp_path / "notes.jpg"
        not_image.write_text("not a photo")
        driver.find_element(By.ID, "file").send_keys(str(not_image))
        error = WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "upload-error").is_displayed()
                                                and d.find_element(By.ID, "upload-error"))
        assert error.text == "Not an image: upload a JPEG, PNG or WebP photo."
        driver.find_element(By.ID, "file").send_keys(str(ASTRONAUT))
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".face-box"))
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
        assert overflow <= 0, f"the page is {overflow} px wider than a phone's screen"
    finally:
        if driver is not None:
            driver.quit()


def _docs_screenshot(driver, path: Path) -> None:
    """The README's screenshot: the whole page, as a small palette PNG."""
    from PIL import Image
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(900, min(int(height) + 40, 2400))
    driver.execute_script("window.scrollTo(0, 0);")
    raw = path.with_suffix(".raw.png")
    driver.save_screenshot(str(raw))
    image = Image.open(raw).convert("RGB")
    image.thumbnail((720, 2000))
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    raw.unlink()
