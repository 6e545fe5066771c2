// bertlab's few changes to how the theme's pages behave (loaded on every page; see _config.yml).
// tests/test_rendered_book.py checks each at 1280, 800 and 390 px, with axe-core for the last two.
(function () {
  // 1. A displayed formula wider than its column (on a phone) is set smaller until it fits,
  //    instead of scrolling inside its own box: MathJax draws it at one size; this scales that size
  //    by the share of it the column has (never below 55%, where a wider formula scrolls after
  //    all). Once MathJax has typeset the page, and again when the window's width changes.
  function fitFormulas() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (box) {
      if (!box.dataset.drawnSize) box.dataset.drawnSize = box.style.fontSize || "100%";
      const drawn = parseFloat(box.dataset.drawnSize);
      box.style.fontSize = box.dataset.drawnSize;
      const share = box.clientWidth / box.scrollWidth;
      if (share < 1) box.style.fontSize = drawn * Math.max(0.55, share * 0.98) + "%";
    });
  }

  // 2. A box that scrolls sideways (a wide table a cell printed, on a phone) can be scrolled from
  //    the keyboard: it takes the focus (the theme does this for code blocks only).
  function letScrollingBoxesTakeFocus() {
    document.querySelectorAll("article .cell_output div, article .table-wrapper").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1 && !box.hasAttribute("tabindex") &&
          getComputedStyle(box).overflowX !== "visible") {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", "wide output, scrolls sideways");
      }
    });
  }

  // 3. A control's name for a screen reader includes the words it shows (WCAG 2.5.3, "label in
  //    name": a voice user says what they see). The theme names its search button "Search" while
  //    it shows "Search Ctrl + K", and a hidden cell's toggle "Toggle hidden content" while it
  //    shows "Show code cell source": their names become what they show. The colour-mode button's
  //    icons carry titles ("Light", "Dark") that are not its name: hidden from screen readers,
  //    the button keeps its name, "Color mode".
  function nameControlsByWhatTheyShow() {
    document.querySelectorAll(".search-button__button[aria-label], details > summary[aria-label]")
      .forEach(function (control) {
        const shown = control.innerText.replace(/\s+/g, " ").trim();
        if (shown) control.removeAttribute("aria-label");
      });
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      quietIcons(button);
      if (button.dataset.iconsWatched) return;
      button.dataset.iconsWatched = "yes";
      // FontAwesome draws its icons (and may draw them again) after the page has loaded.
      new MutationObserver(function () { quietIcons(button); })
        .observe(button, {childList: true, subtree: true});
    });
  }
  function quietIcons(button) {
    button.querySelectorAll("svg").forEach(function (icon) {
      icon.querySelectorAll("title").forEach(function (title) { title.remove(); });
      if (icon.hasAttribute("aria-labelledby")) icon.removeAttribute("aria-labelledby");
      if (icon.getAttribute("aria-hidden") !== "true") icon.setAttribute("aria-hidden", "true");
    });
  }

  // 4. The bibliography's entries are items of its list: docutils marks each "doc-biblioentry", a
  //    role DPUB-ARIA 1.1 deprecated, so a screen reader (and axe) found a list with no items.
  function makeCitationsListItems() {
    document.querySelectorAll('.citation-list > [role="doc-biblioentry"]').forEach(function (entry) {
      entry.setAttribute("role", "listitem");
    });
  }

  function whenTypeset(triesLeft) {
    const startup = window.MathJax && window.MathJax.startup;
    if (startup && startup.promise) startup.promise.then(fitFormulas);
    else if (triesLeft > 0) setTimeout(function () { whenTypeset(triesLeft - 1); }, 100);
  }
  document.addEventListener("DOMContentLoaded", nameControlsByWhatTheyShow);
  window.addEventListener("load", function () {
    whenTypeset(50);
    letScrollingBoxesTakeFocus();
    nameControlsByWhatTheyShow();
    makeCitationsListItems();
  });
  window.addEventListener("resize", function () {
    fitFormulas();
    letScrollingBoxesTakeFocus();
  });
})();
