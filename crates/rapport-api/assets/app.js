// Enhancements only: every page works without this script.
// - "/" focuses the search box (or opens the search page);
// - "j" and "k" move between timeline entries and conversation events, Enter follows the focused one;
// - the responsiveness form shows its choice as soon as a select changes;
// - times also show the reader's local time as a tooltip.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  var items = function () {
    return Array.prototype.slice.call(document.querySelectorAll("ol.timeline > li, ol.thread > li.event"));
  };
  items().forEach(function (item) { item.setAttribute("tabindex", "-1"); });
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.metaKey || event.ctrlKey || event.altKey || typing(event.target)) return;
    if (event.key === "/") {
      var search = document.querySelector("[data-shortcut='/']");
      event.preventDefault();
      if (search) { search.focus(); search.select(); } else { window.location.href = "/ui"; }
      return;
    }
    if (event.key === "j" || event.key === "k") {
      var all = items();
      if (!all.length) return;
      var at = all.indexOf(document.activeElement);
      var next = event.key === "j" ? Math.min(at + 1, all.length - 1) : Math.max(at - 1, 0);
      all[next].focus();
      all[next].scrollIntoView({ block: "nearest" });
      event.preventDefault();
      return;
    }
    if (event.key === "Enter" && document.activeElement && document.activeElement.matches("ol.timeline > li")) {
      var link = document.activeElement.querySelector("a.conv");
      if (link) link.click();
    }
  });
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.name === "period" && select.value !== "") {
        select.form.querySelectorAll("input[type=date]").forEach(function (d) { d.value = ""; });
      }
      select.form.submit();
    });
  });
  document.querySelectorAll("time[datetime]").forEach(function (time) {
    var when = new Date(time.getAttribute("datetime"));
    if (!isNaN(when)) time.title = when.toLocaleString() + " (your time)";
  });
})();
