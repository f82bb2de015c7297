"""A real browser (Debian's chromium, driven by Playwright) uses the app the way a person does."""
import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")]


@pytest.fixture(scope="module")
def server():
    import app

    demo = app.build_demo(app.AppConfig(backbone="vgg11", weights="random", device="cpu", example_size=32))
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield url
    demo.close()


def _screenshot(page, name):
    folder = os.environ.get("STYLEHUB_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_upload_two_images_run_and_see_the_result(server, tmp_path, content_image, style_image):
    content_image.resize((96, 64)).save(tmp_path / "content.png")
    style_image.resize((80, 80)).save(tmp_path / "style.png")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server)
        page.locator("#content input[type=file]").set_input_files(str(tmp_path / "content.png"))
        page.locator("#style-1 input[type=file]").set_input_files(str(tmp_path / "style.png"))
        page.get_by_label("fast").check()
        size = page.locator("#size input[type=number]")
        size.fill("64")
        size.press("Enter")
        _screenshot(page, "before-run")
        page.locator("#run").click()
        download = page.locator("#download a")
        download.first.wait_for(timeout=120_000)
        assert page.locator("#result img").first.get_attribute("src")
        assert "stylehub" in page.locator("#download").inner_text()
        _screenshot(page, "after-run")
        browser.close()


def test_an_example_runs_once_then_comes_from_the_cache(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        for _ in range(2):  # the first click computes and caches, the second is served from the cache
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server)
            page.locator("table tbody tr").nth(2).click()  # Tübingen x The Starry Night
            page.locator("#download a").first.wait_for(timeout=120_000)
            page.wait_for_function("!document.body.innerText.includes('processing')", timeout=30_000)
            assert page.locator("#result img").first.get_attribute("src")
            _screenshot(page, "example")
            page.close()
        browser.close()


def test_fast_and_blender_tabs_with_the_shipped_models(server):
    """The shipped networks in models/: the example photo is already there, so one click stylises it."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.goto(server)
        page.get_by_role("tab", name="Fast").click()
        page.locator("#fast-run").click()
        page.locator("#fast-download a").first.wait_for(timeout=60_000)
        assert " ms on " in page.locator("#fast-timing").inner_text()
        page.locator("#fast-every").click()
        page.locator("#fast-gallery img").first.wait_for(timeout=60_000)
        _screenshot(page, "fast")
        page.get_by_role("tab", name="Blender").click()
        page.locator("#blend-run").click()
        page.locator("#blend-download a").first.wait_for(timeout=60_000)
        first = page.locator("#blend-result img").first.get_attribute("src")
        weight = page.locator("#blend-weight-2 input[type=number]")
        weight.fill("1")
        weight.press("Enter")  # a new weight: the result follows
        page.wait_for_function(f"document.querySelector('#blend-result img').src !== {first!r}", timeout=60_000)
        page.locator("#blend-sheet-run").click()
        page.locator("#blend-sheet img").first.wait_for(timeout=60_000)
        _screenshot(page, "blender")
        browser.close()


def _browser(p, *args):
    return p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", *args])


def test_a_failed_load_leaves_the_style_dropdown_usable(server):
    with playwright.sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server)
        page.get_by_role("tab", name="Fast").click()
        page.locator("#fast-reference input, #fast-reference textarea").first.fill("not a repo id")
        page.locator("#fast-load").click()
        page.get_by_text("is not a Hub repo id").first.wait_for(timeout=30_000)  # one message
        assert page.locator("#fast-style").get_by_text("Error").count() == 0  # the dropdown is not covered
        page.locator("#fast-style input").click()
        page.get_by_role("option", name="The Great Wave").click()  # still usable: choosing a style runs it
        page.wait_for_function("document.querySelector('#fast-timing').innerText.includes(' ms on ')",
                               timeout=60_000)
        browser.close()


def test_switching_network_refreshes_the_blend(server):
    with playwright.sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        page.goto(server)
        page.get_by_role("tab", name="Blender").click()
        page.locator("#blend-run").click()
        page.locator("#blend-download a").first.wait_for(timeout=60_000)
        first = page.locator("#blend-result img").first.get_attribute("src")
        style = page.locator("#blend-style-1 input").input_value()
        page.locator("#blend-model input").click()
        page.get_by_role("option").filter(has_not_text=page.locator("#blend-model input").input_value()).first.click()
        page.wait_for_function(f"document.querySelector('#blend-style-1 input').value !== {style!r}", timeout=30_000)
        page.wait_for_function(f"document.querySelector('#blend-result img')?.src !== {first!r}", timeout=60_000)
        browser.close()


def test_an_example_run_shows_its_steps_and_settings(server):
    with playwright.sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server)
        page.evaluate("""() => { window.sawSteps = false;
            new MutationObserver(() => { const s = document.querySelector('#run-status');
                if (s && /step \\d+\\/\\d+/.test(s.innerText)) window.sawSteps = true; })
              .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
        page.locator("table tbody tr").nth(0).click()
        page.locator("#download a").first.wait_for(timeout=120_000)
        assert page.evaluate("window.sawSteps")
        assert page.get_by_label("fast").is_checked()
        assert page.locator("#size input[type=number]").input_value() == "32"  # what the example ran with
        assert "Done" in page.locator("#run-status").inner_text()
        browser.close()


def test_the_phone_layout_reaches_every_tab_and_the_result(server):
    with playwright.sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(server)
        for name in ("Optimise", "Fast", "Blender"):
            tab = page.get_by_role("tab", name=name)
            box = tab.bounding_box()
            assert tab.is_visible() and box["x"] + box["width"] <= 390, name  # on screen, not behind a menu
        page.get_by_role("tab", name="Fast").click()
        page.locator("#fast-run").click()
        page.locator("#fast-download a").first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        box = page.locator("#fast-result").bounding_box()
        assert box["y"] < 844 and box["y"] + box["height"] > 0  # the page brought the result into view
        _screenshot(page, "phone-fast")
        browser.close()


def test_the_webcam_streams_stylised_frames(server):
    with playwright.sync_playwright() as p:
        browser = _browser(p, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
        page = browser.new_context(viewport={"width": 1280, "height": 1000}, permissions=["camera"]).new_page()
        page.goto(server)
        page.get_by_role("tab", name="Fast").click()
        page.get_by_text("Webcam (live)").locator("visible=true").first.click()
        page.locator("#fast-camera").get_by_text("Click to Access Webcam").click()
        page.locator("#fast-camera button[aria-label='capture photo']").click()  # start streaming
        page.locator("#fast-live img").first.wait_for(timeout=60_000)
        first = page.locator("#fast-live img").first.get_attribute("src")
        page.wait_for_function(f"document.querySelector('#fast-live img').src !== {first!r}", timeout=60_000)
        browser.close()
