// flowui: live refresh of the parts of a page marked data-poll, and
// confirmation of forms marked data-confirm. No dependencies, no build.
(function () {
  'use strict';

  var INTERVAL = 1000; // between refreshes
  var BACKOFF = 5000;  // after a failed refresh

  function live(el) {
    var url = el.getAttribute('data-poll');
    var last = null;

    function schedule(ms) { window.setTimeout(tick, ms); }

    function tick() {
      if (el.getAttribute('data-live') === 'false') return;
      if (document.hidden) { schedule(INTERVAL); return; }
      fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { 'Accept': 'text/html' } })
        .then(function (res) {
          if (res.status >= 400 && res.status < 500) {
            // Gone, or no longer allowed: stop rather than retry forever.
            el.setAttribute('data-live', 'false');
            return null;
          }
          if (!res.ok) throw new Error('HTTP ' + res.status);
          var stop = res.headers.get('X-Flowui-Poll') === 'stop';
          return res.text().then(function (html) { return { html: html, stop: stop }; });
        })
        .then(function (r) {
          if (r === null) return;
          // data-refreshes counts the refreshes, for tests and curious eyes.
          el.setAttribute('data-refreshes', String(Number(el.getAttribute('data-refreshes') || 0) + 1));
          if (r.html !== last) {
            last = r.html;
            swap(el, r.html);
          }
          if (r.stop) {
            el.setAttribute('data-live', 'false');
            document.querySelectorAll('.live-dot').forEach(function (d) { d.remove(); });
            return;
          }
          schedule(INTERVAL);
        })
        .catch(function () { schedule(BACKOFF); });
    }

    schedule(INTERVAL);
  }

  // swap replaces el's content, keeping open <details> open and the
  // focused element focused where it still exists.
  function swap(el, html) {
    var open = [];
    el.querySelectorAll("details[open]").forEach(function (d) { open.push(path(el, d)); });
    var active = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : '';
    el.innerHTML = html;
    open.forEach(function (p) {
      var d = el.querySelector(p);
      if (d) d.open = true;
    });
    if (active) {
      var a = document.getElementById(active);
      if (a) a.focus();
    }
    el.dispatchEvent(new CustomEvent('flowui:refresh', { bubbles: true }));
  }

  // path is a selector for a <details> inside root: by its step, or by id.
  function path(root, d) {
    if (d.id) return '#' + CSS.escape(d.id);
    var step = d.closest('[data-step-id]');
    if (step) return '[data-step-id="' + CSS.escape(step.getAttribute('data-step-id')) + '"] details';
    return 'details';
  }

  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  function init() {
    document.querySelectorAll('[data-poll]').forEach(live);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
