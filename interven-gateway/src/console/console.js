// interven console: live approvals and small comforts. No dependencies.
(function () {
  "use strict";

  function timeLeft(s) {
    if (s <= 0) return "expired";
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function tick() {
    var now = Math.floor(Date.now() / 1000);
    document.querySelectorAll("[data-expires-at]").forEach(function (el) {
      var left = parseInt(el.getAttribute("data-expires-at"), 10) - now;
      el.textContent = timeLeft(left) + (left > 0 ? " left" : "");
    });
  }

  // New approvals appear without a reload: the list is fetched every two
  // seconds and merged in card by card: cards already shown stay the same
  // nodes (the keyboard focus and an open body stay put), new ones are
  // inserted in place, decided or expired ones leave.
  function merge(list, html) {
    var next = document.createElement("template");
    next.innerHTML = html;
    var current = {};
    list.querySelectorAll("[data-approval-id]").forEach(function (el) {
      current[el.getAttribute("data-approval-id")] = el;
    });
    var keep = [];
    next.content.childNodes.forEach(function (node) {
      var id = node.nodeType === 1 && node.getAttribute("data-approval-id");
      keep.push(id && current[id] ? current[id] : node);
    });
    var focused = document.activeElement;
    list.querySelectorAll(":scope > *").forEach(function (el) {
      if (keep.indexOf(el) < 0) el.remove();
    });
    keep.forEach(function (node) { list.appendChild(node); });
    if (focused && list.contains(focused)) focused.focus();
  }

  function poll(list) {
    var url = list.getAttribute("data-fragment");
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.href = "/console/login"; return null; }
        if (!r.ok) return null;
        var ids = r.headers.get("x-approvals-digest") || "";
        return r.text().then(function (html) {
          if (ids !== list.getAttribute("data-ids")) {
            merge(list, html);
            list.setAttribute("data-ids", ids);
            tick();
          }
        });
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { setTimeout(function () { poll(list); }, 2000); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("approvals");
    if (list) setTimeout(function () { poll(list); }, 2000);
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault();
      });
    });
  });
})();
