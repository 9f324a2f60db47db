/* The fee schedule form (templates/fees/schedule_form.html): each item row shows only the
 * fields its charge kind uses ([data-kinds="metered shared_meter"] …), and the late-fee
 * fields only when the late fee is on. Without JavaScript every field stays visible; the
 * server ignores what a kind does not use. */
(function () {
  "use strict";

  function syncRow(row) {
    var select = row.querySelector("select[data-charge-kind]");
    if (!select) { return; }
    var kind = select.value;
    row.querySelectorAll("[data-kinds]").forEach(function (part) {
      var kinds = part.getAttribute("data-kinds").split(" ");
      part.hidden = kinds.indexOf(kind) < 0;
    });
  }

  function syncLateFee(form) {
    var box = form.querySelector("input[name='late_fee_enabled']");
    var fields = form.querySelector("[data-late-fee]");
    if (box && fields) { fields.hidden = !box.checked; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-testid='schedule-form']");
    if (!form) { return; }
    form.querySelectorAll("[data-item-row]").forEach(function (row) {
      syncRow(row);
      var select = row.querySelector("select[data-charge-kind]");
      if (select) { select.addEventListener("change", function () { syncRow(row); }); }
    });
    syncLateFee(form);
    var box = form.querySelector("input[name='late_fee_enabled']");
    if (box) { box.addEventListener("change", function () { syncLateFee(form); }); }
  });
}());
