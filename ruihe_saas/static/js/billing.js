/* The billing run page (templates/billing/run.html): a live progress bar.
 *
 * While the run is queued or running ([data-run-progress][data-active="true"]), poll its
 * session-authenticated progress URL every second and update the <progress> element, the
 * counts and the status text; when the run has finished, reload the page once to show the
 * totals, the preview and the warnings. No inline script: the CSP allows only same-origin files.
 */
(function () {
  "use strict";

  var INTERVAL_MS = 1000;

  function label(box, status) {
    return box.getAttribute("data-label-" + status) || status;
  }

  function render(box, data) {
    var bar = box.querySelector("[data-run-bar]");
    var statusText = box.querySelector("[data-run-status]");
    var done = box.querySelector("[data-run-done]");
    var total = box.querySelector("[data-run-total]");
    if (bar) {
      bar.max = data.total > 0 ? data.total : 1;
      bar.value = data.total > 0 ? data.done : (data.finished ? 1 : 0);
      bar.textContent = data.done + "/" + data.total;
    }
    if (statusText) {
      statusText.textContent = label(box, data.status);
      statusText.setAttribute("data-status", data.status);
    }
    if (done) { done.textContent = String(data.done); }
    if (total) { total.textContent = String(data.total); }
  }

  function poll(box) {
    var url = box.getAttribute("data-progress-url");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) {
        render(box, data);
        if (data.finished) {
          window.location.reload();
        } else {
          window.setTimeout(function () { poll(box); }, INTERVAL_MS);
        }
      })
      .catch(function () {
        // a network hiccup: try again a little later
        window.setTimeout(function () { poll(box); }, INTERVAL_MS * 3);
      });
  }

  function init() {
    document.querySelectorAll("[data-run-progress]").forEach(function (box) {
      if (box.getAttribute("data-active") === "true") {
        window.setTimeout(function () { poll(box); }, INTERVAL_MS);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
