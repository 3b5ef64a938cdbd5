// The execution page: follows an execution's nodes live.
//
// It asks the app for a realtime token (the app checks the visitor first),
// opens an EventSource on flow's RealtimeHandler with it, and then reads the
// execution's state once, for whatever happened before the stream opened.
// A node only moves forward (pending, running, done), so the two sources
// can arrive in any order. Every change is appended to data-log on
// #execution ("fetching:running fetching:done ..."), and the counts of
// stream messages and of streamed tokens are in data-messages and
// data-tokens, for tests and the curious.
(function () {
  "use strict";
  var root = document.getElementById("execution");
  if (!root) return;
  var rank = { pending: 0, running: 1, done: 2 };
  var log = [];
  var messages = 0;
  var tokens = 0;
  var live = document.getElementById("live");
  var stream = document.getElementById("ai-stream");

  function setText(el, text) { if (el) el.textContent = text; }

  function setNode(id, status, detail) {
    var el = document.getElementById("node-" + id);
    if (!el || !(status in rank) || rank[status] <= rank[el.dataset.status]) return;
    el.dataset.status = status;
    var badge = el.querySelector(".badge");
    badge.textContent = status;
    badge.className = "badge " + status;
    if (detail) setText(el.querySelector(".detail"), detail);
    if (id === "sending-to-ai" && status === "done" && detail && detail.length >= stream.textContent.length) {
      stream.textContent = detail;
    }
    log.push(id + ":" + status);
    root.dataset.log = log.join(" ");
  }

  function setStatus(status) {
    root.dataset.status = status;
    var el = document.getElementById("execution-status");
    el.textContent = status;
    el.className = "badge " + status;
  }

  function setResult(text) {
    var el = document.getElementById("result");
    el.textContent = text;
    el.dataset.ready = "true";
  }

  function applyState(s) {
    (s.nodes || []).forEach(function (n) { setNode(n.id, n.status, n.detail); });
    if (s.status === "done" || s.status === "failed") {
      setStatus(s.status);
      setResult(s.result);
    }
  }

  // The data of a message as the handler sends it: flow's Message as JSON
  // ({"id", "channel", "topic", "data", "run_id", "time"}).
  function payload(e) {
    messages++;
    root.dataset.messages = String(messages);
    return JSON.parse(e.data).data;
  }

  function setLive(state, text) {
    live.dataset.state = state;
    live.textContent = text;
  }

  function follow() {
    fetch(root.dataset.tokenUrl, { credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("token: HTTP " + r.status);
        return r.json();
      })
      .then(function (t) {
        var es = new EventSource(t.url);
        es.addEventListener("open", function () {
          setLive("live", "live");
          fetch(root.dataset.stateUrl, { credentials: "same-origin" })
            .then(function (r) { return r.json(); })
            .then(function (s) {
              applyState(s);
              if (root.dataset.status === "done" || root.dataset.status === "failed") {
                es.close();
                setLive("closed", "finished");
              }
            });
        });
        es.addEventListener("status", function (e) {
          var d = payload(e);
          setNode(d.node, d.status, d.detail);
        });
        es.addEventListener("tokens", function (e) {
          stream.textContent += payload(e).token;
          tokens++;
          root.dataset.tokens = String(tokens);
        });
        es.addEventListener("result", function (e) {
          var d = payload(e);
          setStatus("done");
          setResult(d.result);
          es.close();
          setLive("closed", "finished");
        });
        es.addEventListener("error", function () {
          if (es.readyState === EventSource.CLOSED) setLive("error", "disconnected: reload the page");
          else setLive("reconnecting", "reconnecting");
        });
      })
      .catch(function (err) { setLive("error", String(err.message || err)); });
  }

  if (root.dataset.status !== "done" && root.dataset.status !== "failed") follow();
})();
