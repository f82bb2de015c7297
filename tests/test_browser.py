"""A real browser (Debian's chromium, driven by Playwright) uses the app the way a person does."""
import contextlib
import os
import time
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
    _wait_until_idle(demo)
    demo.close()


def _wait_until_idle(demo, seconds: float = 60.0) -> None:
    """Let jobs that the last test set going finish: a network still running when Python exits aborts it."""
    deadline = time.monotonic() + seconds
    queue = demo._queue
    while (any(queue.active_jobs) or any(q.queue for q in queue.event_queue_per_concurrency_id.values())) \
            and time.monotonic() < deadline:
        time.sleep(0.1)


def _screenshot(page, name):
    folder = os.environ.get("STYLEHUB_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _browser(p, *args):
    return p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", *args])


@contextlib.contextmanager
def _page(url, width=1280, height=1000, *args, permissions=()):
    """A page of a fresh Chromium (started with args) showing the app in a width x height window."""
    with playwright.sync_playwright() as p:
        browser = _browser(p, *args)
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, permissions=list(permissions))
            page = context.new_page()
            page.goto(url)
            yield page
        finally:
            browser.close()


def _upload_to_optimise(page, folder, content, style) -> None:
    """Put a content photo and a style image into the Optimise tab's uploads."""
    for name, image in (("content", content), ("style-1", style)):
        image.save(folder / f"{name}.png")
        page.locator(f"#{name} input[type=file]").set_input_files(str(folder / f"{name}.png"))


def test_upload_two_images_run_and_see_the_result(server, tmp_path, content_image, style_image):
    with _page(server, 1280, 1000) as page:
        _upload_to_optimise(page, tmp_path, content_image.resize((96, 64)), style_image.resize((80, 80)))
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


def test_an_example_runs_once_then_comes_from_the_cache(server):
    with playwright.sync_playwright() as p:
        browser = _browser(p)
        for _ in range(2):  # the first click computes and caches, the second is served from the cache
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server)
            page.locator("#optimise-examples table tbody tr").nth(2).click()  # Tübingen x The Starry Night
            page.locator("#download a").first.wait_for(timeout=120_000)
            page.wait_for_function("!document.body.innerText.includes('processing')", timeout=30_000)
            assert page.locator("#result img").first.get_attribute("src")
            _screenshot(page, "example")
            page.close()
        browser.close()


def test_fast_and_blender_tabs_with_the_shipped_models(server):
    """The shipped networks in models/: the example photo is already there, so one click stylises it."""
    with _page(server, 1280, 1200) as page:
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


def test_a_failed_load_leaves_the_style_dropdown_usable(server):
    with _page(server, 1280, 1000) as page:
        page.get_by_role("tab", name="Fast").click()
        page.locator("#fast-reference input, #fast-reference textarea").first.fill("not a repo id")
        page.locator("#fast-load").click()
        page.get_by_text("is not a Hub repo id").first.wait_for(timeout=30_000)  # one message
        assert page.locator("#fast-style").get_by_text("Error").count() == 0  # the dropdown is not covered
        page.locator("#fast-style input").click()
        page.get_by_role("option", name="The Great Wave").click()  # still usable: choosing a style runs it
        page.wait_for_function("document.querySelector('#fast-timing').innerText.includes(' ms on ')",
                               timeout=60_000)


def test_switching_network_refreshes_the_blend(server):
    with _page(server, 1280, 1200) as page:
        page.get_by_role("tab", name="Blender").click()
        page.locator("#blend-run").click()
        page.locator("#blend-download a").first.wait_for(timeout=60_000)
        first = page.locator("#blend-result img").first.get_attribute("src")
        style = page.locator("#blend-style-1 input").input_value()
        page.locator("#blend-model input").click()
        page.get_by_role("option").filter(has_not_text=page.locator("#blend-model input").input_value()).first.click()
        page.wait_for_function(f"document.querySelector('#blend-style-1 input').value !== {style!r}", timeout=30_000)
        page.wait_for_function(f"document.querySelector('#blend-result img')?.src !== {first!r}", timeout=60_000)


def test_an_example_run_shows_its_steps_and_settings(server):
    with _page(server, 1280, 1000) as page:
        page.evaluate("""() => { window.sawSteps = false;
            new MutationObserver(() => { const s = document.querySelector('#run-status');
                if (s && /step \\d+\\/\\d+/.test(s.innerText)) window.sawSteps = true; })
              .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
        page.locator("#optimise-examples table tbody tr").nth(0).click()
        page.locator("#download a").first.wait_for(timeout=120_000)
        assert page.evaluate("window.sawSteps")
        assert page.get_by_label("fast").is_checked()
        assert page.locator("#size input[type=number]").input_value() == "32"  # what the example ran with
        assert "Done" in page.locator("#run-status").inner_text()


def test_the_phone_layout_reaches_every_tab_and_the_result(server):
    with _page(server, 390, 844) as page:
        for name in ("Optimise", "Fast", "Any painting", "Blender"):
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


def test_the_webcam_streams_stylised_frames(server):
    with _page(server, 1280, 1000, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
               permissions=["camera"]) as page:
        page.get_by_role("tab", name="Fast").click()
        page.get_by_text("Webcam (live)").locator("visible=true").first.click()
        page.locator("#fast-camera").get_by_text("Click to Access Webcam").click()
        page.locator("#fast-camera button[aria-label='capture photo']").click()  # start streaming
        page.locator("#fast-live img").first.wait_for(timeout=60_000)
        first = page.locator("#fast-live img").first.get_attribute("src")
        page.wait_for_function(f"document.querySelector('#fast-live img').src !== {first!r}", timeout=60_000)


def test_stop_says_where_it_stopped_and_offers_the_last_preview(server, tmp_path, content_image, style_image):
    with _page(server, 1280, 1000) as page:
        _upload_to_optimise(page, tmp_path, content_image.resize((64, 48)), style_image.resize((48, 48)))
        size = page.locator("#size input[type=number]")
        size.fill("64")
        size.press("Enter")
        page.get_by_text("Advanced").click()
        page.locator("#optimizer").get_by_label("adam").check()  # L-BFGS may converge and finish before Stop
        steps = page.get_by_label("Steps at full size")
        steps.fill("5000")  # far more than the test waits for
        steps.press("Enter")
        page.wait_for_timeout(500)  # the section's controls may still be settling after it opened
        assert steps.input_value() == "5000"
        page.locator("#run").click()
        page.locator("#result img").first.wait_for(timeout=60_000)  # the first preview
        page.wait_for_function("/step \\d+\\/5\\d{3}/.test(document.querySelector('#run-status').innerText)",
                               timeout=30_000, polling=250)  # by time: a busy page may skip animation frames
        page.locator("#stop").click()
        page.wait_for_function("/Stopped at step \\d+\\/\\d+/.test(document.querySelector('#run-status').innerText)",
                               timeout=30_000, polling=250)
        assert "the download holds the last preview" in page.locator("#run-status").inner_text()
        link = page.locator("#download a").first
        link.wait_for(timeout=10_000)
        assert link.get_attribute("href").endswith("stylehub-stopped.png")  # the partial result, offered
        # the loss plot's legend is drawn inside its box, not cut off below it
        legend = page.locator("#loss-plot .role-legend").first
        legend.wait_for(timeout=10_000)
        plot, key = page.locator("#loss-plot").bounding_box(), legend.bounding_box()
        assert key["y"] >= plot["y"] and key["y"] + key["height"] <= plot["y"] + plot["height"]
        _screenshot(page, "stopped")


def test_a_video_uploaded_in_the_fast_tab_comes_back_stylised(server, tmp_path):
    pytest.importorskip("av")
    from test_video import make_clip

    clip = make_clip(tmp_path / "clip.mp4", frames=6, size=(64, 48), fps=12)
    with _page(server, 1280, 1000) as page:
        page.get_by_role("tab", name="Fast").click()
        page.get_by_text("Video", exact=True).locator("visible=true").first.click()
        page.locator("#fast-video input[type=file]").set_input_files(str(clip))
        page.locator("#fast-video video").first.wait_for(timeout=30_000)
        page.locator("#fast-video-run").click()
        page.wait_for_function("document.querySelector('#fast-video-status').innerText.includes('Done')",
                               timeout=60_000)
        assert "Done: 6 frames at 64×48 px" in page.locator("#fast-video-status").inner_text()
        assert page.locator("#fast-video-result video").first.get_attribute("src")


def test_fast_and_blender_examples_run_when_clicked(server):
    with _page(server, 1280, 1000) as page:
        page.get_by_role("tab", name="Fast").click()
        rows = page.locator("#fast-examples table tbody tr")
        assert rows.count() >= 2, "the Fast tab shows examples"
        wanted = rows.nth(1).locator("td").nth(1).inner_text().strip()  # the second example's style
        rows.nth(1).click()
        page.wait_for_function(f"document.querySelector('#fast-style input').value === {wanted!r}", timeout=10_000)
        page.wait_for_function("document.querySelector('#fast-timing').innerText.includes(' ms on ')",
                               timeout=60_000)
        assert page.locator("#fast-result img").first.get_attribute("src")
        page.get_by_role("tab", name="Blender").click()
        examples = page.locator("#blend-examples button, #blend-examples tbody tr").locator("visible=true")
        assert examples.count() >= 2, "the Blender tab shows examples"
        examples.nth(0).click()  # the first two styles in the slots, half and half
        page.wait_for_function("document.querySelector('#blend-weight-3 input[type=number]').value === '0.5'",
                               timeout=10_000)
        page.locator("#blend-download a").first.wait_for(timeout=60_000)
        assert " ms on " in page.locator("#blend-timing").inner_text()
        _screenshot(page, "blender-example")


def test_the_before_after_divider_moves_with_the_keyboard_and_images_have_words(server):
    with _page(server, 1280, 1200) as page:
        page.get_by_role("tab", name="Fast").click()
        page.locator("#fast-run").click()
        page.locator("#fast-download a").first.wait_for(timeout=60_000)
        divider = page.locator("#fast-compare [data-testid=slider]")
        divider.wait_for(timeout=10_000)
        assert divider.get_attribute("role") == "slider" and "arrow keys" in divider.get_attribute("aria-label")
        page.wait_for_timeout(300)  # the images laid out
        divider.focus()
        before = float(divider.get_attribute("aria-valuenow"))
        where = "new DOMMatrix(getComputedStyle(document.querySelector('#fast-compare [data-testid=slider]'))" \
                ".transform).m41"  # px the component moved the divider by
        start = page.evaluate(where)
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        assert page.evaluate(where) > start + 10  # the divider itself moved, not only its announced value
        assert float(divider.get_attribute("aria-valuenow")) == pytest.approx(before + 15, abs=2)
        page.keyboard.press("Home")
        assert float(divider.get_attribute("aria-valuenow")) == pytest.approx(0, abs=1)
        alts = page.eval_on_selector_all("#fast-compare img", "images => images.map(i => i.alt)")
        assert alts == ["Before: your photo", "After: the stylised result"]
        assert page.locator("#fast-result img").first.get_attribute("alt") == "The stylised image"
        assert page.locator("#fast-content img").first.get_attribute("alt")


def test_every_style_thumbnail_shows_on_a_phone_without_an_inner_scroll(server):
    with _page(server, 390, 844) as page:
        for tab, gallery in (("Blender", "#blend-thumbnails"), ("Fast", "#fast-styles")):
            page.get_by_role("tab", name=tab).click()
            tiles = page.locator(f"{gallery} button.thumbnail-item")
            tiles.first.wait_for(timeout=10_000)
            scrolls = page.eval_on_selector(f"{gallery} .grid-wrap", "e => e.scrollHeight - e.clientHeight")
            assert scrolls <= 1, f"{gallery} scrolls inside by {scrolls} px"
            box = page.locator(gallery).bounding_box()
            for i in range(tiles.count()):
                tile = tiles.nth(i).bounding_box()
                inside = box["y"] <= tile["y"] and tile["y"] + tile["height"] <= box["y"] + box["height"] + 1
                assert inside, (gallery, i)
                assert tile["x"] + tile["width"] <= 390
        _screenshot(page, "phone-thumbnails")


def test_any_painting_paints_an_upload_and_a_broken_painting_leaves_the_controls_usable(server, tmp_path,
                                                                                      content_image, style_image):
    content_image.resize((96, 64)).save(tmp_path / "content.png")
    style_image.resize((80, 80)).save(tmp_path / "painting.png")
    (tmp_path / "broken.png").write_text("not a painting")
    with _page(server, 1280, 1200) as page:
        page.get_by_role("tab", name="Any painting").click()
        page.locator("#any-content input[type=file]").set_input_files(str(tmp_path / "content.png"))
        page.locator("#any-painting-2 input[type=file]").set_input_files(str(tmp_path / "painting.png"))
        page.locator("#any-download a").first.wait_for(timeout=60_000)
        assert page.locator("#any-result img").first.get_attribute("src")
        assert "96×64 px in" in page.locator("#any-timing").inner_text()
        page.locator("#any-painting-3 input[type=file]").set_input_files(str(tmp_path / "broken.png"))
        page.get_by_text("painting 3: not an image file").first.wait_for(timeout=30_000)  # one message
        assert page.locator("#any-timing").inner_text().startswith("Error")  # the badge on the status line
        for control in ("#any-content", "#any-painting-1", "#any-painting-2", "#any-weight-3"):
            assert page.locator(control).get_by_text("Error").count() == 0, control  # not covered
        weight = page.locator("#any-weight-3 input[type=number]")
        weight.fill("0")
        weight.press("Enter")
        page.wait_for_function("document.querySelector('#any-weight-3 input[type=range]').value === '0'",
                               timeout=10_000)
        page.locator("#any-run").click()  # the broken painting left out: the others paint again
        # the error badge gives way to a new timing (the picture may be the same file: the same painting)
        page.wait_for_function("(t => !t.startsWith('Error') && t.includes(' ms on '))"
                               "(document.querySelector('#any-timing').innerText)", timeout=60_000)
        _screenshot(page, "any-painting")


def test_refine_continues_the_any_painting_result_in_the_optimise_tab(server, tmp_path, content_image, style_image):
    content_image.resize((64, 48)).save(tmp_path / "content.png")
    style_image.resize((48, 48)).save(tmp_path / "painting.png")
    with _page(server, 1280, 1200) as page:
        page.get_by_label("fast").check()  # a quick optimisation, in the Optimise tab's own settings
        size = page.locator("#size input[type=number]")
        size.fill("64")
        size.press("Enter")
        page.get_by_role("tab", name="Any painting").click()
        refine = page.locator("#any-refine")
        assert refine.is_disabled()  # nothing to refine yet
        page.locator("#any-content input[type=file]").set_input_files(str(tmp_path / "content.png"))
        page.locator("#any-painting-1 input[type=file]").set_input_files(str(tmp_path / "painting.png"))
        page.locator("#any-download a").first.wait_for(timeout=60_000)
        refine.click(timeout=30_000)  # once enabled by the result
        page.locator("#run-status").wait_for(state="visible", timeout=30_000)  # the Optimise tab shows
        for filled in ("#content", "#style-1", "#start"):  # the photo, the painting and the result to start from
            page.locator(f"{filled} img").first.wait_for(timeout=30_000)
        page.locator("#result img").first.wait_for(timeout=120_000)  # a preview streams in
        page.wait_for_function("/step \\d+\\/\\d+|Done/.test(document.querySelector('#run-status').innerText)",
                               timeout=60_000)
        page.locator("#download a").first.wait_for(timeout=180_000)
        page.wait_for_function("document.querySelector('#settings-used').innerText.includes('start')",
                               timeout=30_000)  # the settings used say where it started
        _screenshot(page, "refine")
