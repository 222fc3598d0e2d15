// The overview's live updates: when the audit event stream reports activity, the table rows
// are fetched again (server-rendered and escaped, from this origin) and replaced. Without
// JavaScript the page works as plain HTML; reload to refresh.
(function () {
  "use strict";
  var rows = document.querySelector("[data-live-rows]");
  if (!rows || !window.EventSource) {
    return;
  }
  var status = document.getElementById("live-status");
  var say = function (text) {
    if (status) {
      status.textContent = text;
    }
  };
  var pending = null;
  var refresh = function () {
    pending = null;
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "rows");
    fetch(url.toString(), { credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.text() : Promise.reject(r.status);
      })
      .then(function (html) {
        rows.innerHTML = html;
        say("Live: updated " + new Date().toLocaleTimeString());
      })
      .catch(function () {
        say("Live updates paused; reload the page.");
      });
  };
  var source = new EventSource("/dashboard/events");
  source.onopen = function () {
    say("Live: following new events");
  };
  source.onmessage = function () {
    if (!pending) {
      pending = setTimeout(refresh, 300);
    }
  };
  source.onerror = function () {
    say("Live: reconnecting");
  };
})();
