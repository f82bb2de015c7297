() => {
  // What Gradio's components leave out, added in the page: a before/after divider that the keyboard can move, and
  // words for the images that a screen reader would otherwise announce as nothing.
  const NAMES = {  // alt text by the id of the image's component; other images take their component's label
    "result": "The stylised image",
    "fast-result": "The stylised image",
    "blend-result": "The stylised image (a mix of styles)",
    "any-result": "The photo painted in the style of your paintings",
    "fast-live": "The latest webcam frame, stylised",
    "blend-live": "The latest webcam frame, stylised",
  };

  function label(block) {
    const text = block?.querySelector("[data-testid=block-label], label")?.innerText?.trim();
    return text || "";
  }

  function setAlt(img, text) {
    if (text && img.getAttribute("alt") !== text) img.setAttribute("alt", text);
  }

  function describeImages() {
    document.querySelectorAll("img[alt=''], img:not([alt])").forEach((img) => {
      const block = img.closest(".block");
      if (!block) return;
      const pair = [...block.querySelectorAll("[data-testid=imageslider-image]")];
      const cell = img.closest("td");
      if (pair.includes(img)) {
        setAlt(img, pair.indexOf(img) === 0 ? "Before: your photo" : "After: the stylised result");
      } else if (cell) {  // an example: the column's name and the file's
        const column = cell.closest("table")?.querySelectorAll("thead th")[cell.cellIndex]?.innerText?.trim();
        const file = decodeURIComponent(img.src.split("/").pop().split("?")[0]).replace(/\.[a-z]+$/i, "").replace(/_/g, " ");
        setAlt(img, column ? `${column}: ${file}` : file);
      } else {
        setAlt(img, NAMES[block.id] || label(block));
      }
    });
  }

  function divider(handle) {  // where the divider stands, in px from its container's left, and the image's box
    const wrap = handle.parentElement;
    const box = wrap.getBoundingClientRect();
    const img = wrap.querySelector("[data-testid=imageslider-image]");
    const shown = img?.parentElement?.getBoundingClientRect();
    const moved = /translateX\(([-\d.]+)px\)/.exec(handle.style.transform);
    let left = box.left, width = box.width;
    if (img && shown && img.naturalWidth && shown.height) {  // the image as drawn ("contain") inside its box
      const ratio = img.naturalWidth / img.naturalHeight;
      width = ratio > shown.width / shown.height ? shown.width : shown.height * ratio;
      left = shown.left + (shown.width - width) / 2;
    }
    const origin = box.left + wrap.clientLeft;
    return { origin, at: origin + (moved ? parseFloat(moved[1]) : width / 2), left, width };
  }

  function announce(handle, fraction) {
    if (fraction === undefined) {
      const { at, left, width } = divider(handle);
      fraction = (at - left) / width;
    }
    const percent = Math.round(Math.min(Math.max(fraction, 0), 1) * 100);
    handle.setAttribute("aria-valuenow", String(percent));
    handle.setAttribute("aria-valuetext", `${percent}% of the width shows the photo, ${100 - percent}% the result`);
  }

  function move(handle, fraction) {  // the component follows the mouse only: the keyboard drives it as a mouse would
    const { at, left, width } = divider(handle);
    fraction = Math.min(Math.max(fraction, 0), 1);
    const target = left + fraction * width;
    const y = handle.getBoundingClientRect().top + handle.getBoundingClientRect().height / 2;
    const mouse = (type, x, where) => where.dispatchEvent(new MouseEvent(type, {
      clientX: x, clientY: y, bubbles: true, cancelable: true, view: window, button: 0 }));
    mouse("mousedown", at, handle);
    mouse("mousemove", target, window);
    mouse("mouseup", target, window);
    announce(handle, fraction);
    handle.stylehubPending = fraction;  // the page draws the move a frame later: the next key starts from here
    requestAnimationFrame(() => requestAnimationFrame(() => { handle.stylehubPending = undefined; }));
  }

  function keyboard(handle) {
    if (handle.dataset.stylehubKeys) return;
    handle.dataset.stylehubKeys = "1";
    handle.tabIndex = 0;
    handle.setAttribute("role", "slider");
    handle.setAttribute("aria-label",
      `${label(handle.closest(".block")) || "Before / after"}: the divider between your photo and the result; ` +
      "move it with the arrow keys");
    handle.setAttribute("aria-valuemin", "0");
    handle.setAttribute("aria-valuemax", "100");
    handle.addEventListener("focus", () => announce(handle));
    handle.addEventListener("keydown", (event) => {
      const { at, left, width } = divider(handle);
      const now = handle.stylehubPending ?? (at - left) / width;
      const steps = { ArrowLeft: -0.05, ArrowDown: -0.05, ArrowRight: 0.05, ArrowUp: 0.05, PageDown: -0.25, PageUp: 0.25 };
      let fraction;
      if (event.key in steps) fraction = now + steps[event.key];
      else if (event.key === "Home") fraction = 0;
      else if (event.key === "End") fraction = 1;
      else return;
      event.preventDefault();
      move(handle, fraction);
    });
  }

  let queued = false;
  function update() {
    queued = false;
    document.querySelectorAll("[data-testid=slider]").forEach(keyboard);
    describeImages();
  }
  new MutationObserver(() => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(update);
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["src"] });
  update();
}
