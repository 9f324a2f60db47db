/* The art. 278 vote calculator of the full-takeover form (templates/handover/page.html).
 *
 * Six inputs ([data-art278-input]) → four ratios and pass/fail, live. Exact arithmetic as on
 * the server (handover/services.py art278_result): owners are integers, areas are converted to
 * integer hundredths of m², and every test is an integer cross-multiplication on BigInt:
 *   participation ≥ 2/3  ⇔  3·part ≥ 2·total;   approval > 1/2  ⇔  2·approving > participating.
 * Percentages are rounded half up to 2 decimals. The server re-computes everything on submit.
 */
(function () {
  "use strict";

  var CHECKS = {
    participation_area: ["participating_area", "total_area", "two_thirds"],
    participation_owners: ["participating_owners", "total_owners", "two_thirds"],
    approval_area: ["approving_area", "participating_area", "half"],
    approval_owners: ["approving_owners", "participating_owners", "half"]
  };

  function parseCount(text) {
    text = (text || "").trim();
    return /^\d{1,12}$/.test(text) ? BigInt(text) : null;
  }

  function parseArea(text) {
    var match = /^(\d{1,12})(?:[.,](\d{0,2}))?$/.exec((text || "").trim());
    if (!match) { return null; }
    var cents = ((match[2] || "") + "00").slice(0, 2);
    return BigInt(match[1]) * BigInt(100) + BigInt(cents);
  }

  function percent(numerator, denominator) {
    if (denominator === BigInt(0)) { return "0.00"; }
    var scaled = numerator * BigInt(10000);
    var hundredths = (BigInt(2) * scaled + denominator) / (BigInt(2) * denominator);
    var whole = hundredths / BigInt(100);
    var rest = (hundredths % BigInt(100)).toString();
    return whole.toString() + "." + (rest.length < 2 ? "0" + rest : rest);
  }

  function passes(rule, numerator, denominator) {
    if (denominator <= BigInt(0)) { return false; }
    if (rule === "two_thirds") { return BigInt(3) * numerator >= BigInt(2) * denominator; }
    return BigInt(2) * numerator > denominator;
  }

  function setState(element, state) {
    element.classList.remove("pass", "fail");
    if (state) { element.classList.add(state); }
  }

  function update(box) {
    var values = {};
    var complete = true;
    box.querySelectorAll("[data-art278-input]").forEach(function (input) {
      var name = input.getAttribute("data-art278-input");
      var value = /_area$/.test(name) ? parseArea(input.value) : parseCount(input.value);
      values[name] = value;
      if (value === null) { complete = false; }
    });
    var allPass = true;
    Object.keys(CHECKS).forEach(function (name) {
      var row = box.querySelector('[data-art278-check="' + name + '"]');
      if (!row) { return; }
      var spec = CHECKS[name];
      var percentCell = row.querySelector("[data-art278-percent]");
      var verdictCell = row.querySelector("[data-art278-verdict]");
      if (!complete) {
        percentCell.textContent = "—";
        verdictCell.textContent = "—";
        setState(row, null);
        allPass = false;
        return;
      }
      var ok = passes(spec[2], values[spec[0]], values[spec[1]]);
      percentCell.textContent = percent(values[spec[0]], values[spec[1]]) + "%";
      verdictCell.textContent = box.getAttribute(ok ? "data-text-pass" : "data-text-fail");
      setState(row, ok ? "pass" : "fail");
      if (!ok) { allPass = false; }
    });
    var overall = box.querySelector("[data-art278-overall]");
    if (overall) {
      if (!complete) {
        overall.textContent = box.getAttribute("data-text-incomplete");
        setState(overall, null);
      } else {
        overall.textContent = box.getAttribute(allPass ? "data-text-passed" : "data-text-failed");
        setState(overall, allPass ? "pass" : "fail");
      }
    }
  }

  function init() {
    document.querySelectorAll("[data-art278]").forEach(function (box) {
      box.addEventListener("input", function () { update(box); });
      update(box);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
