/* socmon console: theme toggle, queue selection and keyboard shortcuts (j/k/x/a/?). */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function currentTheme() {
    var t = document.documentElement.dataset.theme;
    if (t) return t;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.alerts tbody tr"));
  }

  function focusedRow() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("table.alerts tbody tr") : null;
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var i = all.indexOf(focusedRow());
    i = i < 0 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, i + step));
    all.forEach(function (r) { r.classList.remove("current"); });
    all[i].classList.add("current");
    all[i].querySelector("a.row-link").focus();
  }

  function toggleCurrent() {
    var row = focusedRow();
    if (!row) return;
    var box = row.querySelector("input.pick");
    if (box) box.checked = !box.checked;
  }

  function acknowledgeSelected() {
    var form = document.getElementById("bulk");
    if (!form) return;
    var picked = document.querySelectorAll("input.pick:checked");
    if (!picked.length) {
      var row = focusedRow();
      var box = row && row.querySelector("input.pick");
      if (!box) return;
      box.checked = true;
    }
    document.getElementById("bulk-action").value = "acknowledge";
    form.requestSubmit();
  }

  function typing(e) {
    var t = e.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  onReady(function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.setAttribute("aria-pressed", currentTheme() === "dark" ? "true" : "false");
      toggle.addEventListener("click", function () {
        var next = currentTheme() === "dark" ? "light" : "dark";
        document.documentElement.dataset.theme = next;
        toggle.setAttribute("aria-pressed", next === "dark" ? "true" : "false");
        try { localStorage.setItem("socmon-theme", next); } catch (e) { /* ignore */ }
      });
    }

    var help = document.getElementById("help");
    var helpOpen = document.getElementById("help-open");
    if (help && helpOpen) helpOpen.addEventListener("click", function () { help.showModal(); });

    document.addEventListener("change", function (e) {
      if (e.target && e.target.id === "select-all") {
        var on = e.target.checked;
        document.querySelectorAll("input.pick").forEach(function (b) { b.checked = on; });
      }
    });

    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) return;
      if (!document.querySelector("table.alerts")) {
        if (e.key === "?" && help) help.showModal();
        return;
      }
      switch (e.key) {
        case "j": move(1); break;
        case "k": move(-1); break;
        case "x": toggleCurrent(); break;
        case "a": acknowledgeSelected(); break;
        case "?": if (help) help.showModal(); break;
        default: return;
      }
      e.preventDefault();
    });
  });
})();
