// The rollback dialog: a live character counter, and Confirm enabled only when every
// warning that needs acknowledging is ticked and a description is written. The server
// checks all of it again.
(function () {
  "use strict";
  var form = document.getElementById("rollback-form");
  if (!form) {
    return;
  }
  var description = form.querySelector("#description");
  var count = form.querySelector("[data-count]");
  var confirm = form.querySelector("#confirm");
  var boxes = form.querySelectorAll("input[data-required]");

  function ready() {
    for (var i = 0; i < boxes.length; i++) {
      if (!boxes[i].checked) {
        return false;
      }
    }
    return description.value.trim().length > 0;
  }

  function update() {
    count.textContent = String(description.value.length);
    confirm.disabled = !ready();
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", function (event) {
    if (!ready()) {
      event.preventDefault();
      return;
    }
    confirm.disabled = true; // one click, one rollback
    confirm.textContent = "Rolling back…";
  });
  update();
})();
