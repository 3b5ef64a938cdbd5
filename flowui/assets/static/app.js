// flowui: live refresh of the parts of a page marked data-poll, realtime
// messages of parts marked data-stream, confirmation of forms marked
// data-confirm, and times in the viewer's zone on request. No dependencies,
// no build.
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
    // The runs page's selection survives a refresh.
    var picked = {};
    el.querySelectorAll('input.bulk-pick:checked').forEach(function (c) { picked[c.value] = true; });
    var all = el.querySelector('#bulk-all');
    var allChecked = all && all.checked;
    el.innerHTML = html;
    el.querySelectorAll('input.bulk-pick').forEach(function (c) { if (picked[c.value]) c.checked = true; });
    if (allChecked && el.querySelector('#bulk-all')) el.querySelector('#bulk-all').checked = true;
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

  // #bulk-all selects or clears the runs on the page.
  document.addEventListener('change', function (e) {
    if (!e.target || e.target.id !== 'bulk-all') return;
    document.querySelectorAll('input.bulk-pick').forEach(function (c) { c.checked = e.target.checked; });
  });

  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // stream shows the realtime messages of an element marked data-stream
  // (a run's page), from its Server-Sent Events, as they arrive. Values are
  // set as text, never as HTML.
  function stream(el) {
    if (typeof EventSource === 'undefined') return;
    var list = el.querySelector('.message-list');
    var none = el.querySelector('#no-messages');
    var count = el.querySelector('#message-count');
    var src = new EventSource(el.getAttribute('data-stream'));
    src.onopen = function () { el.setAttribute('data-streaming', 'true'); };
    src.onerror = function () { el.setAttribute('data-streaming', 'false'); };
    src.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (list.querySelector('[data-message-id="' + CSS.escape(String(m.id)) + '"]')) return;
      var li = document.createElement('li');
      li.className = 'message';
      li.setAttribute('data-message-id', m.id);
      li.setAttribute('data-channel', m.channel);
      li.setAttribute('data-topic', m.topic);
      var head = document.createElement('span');
      head.className = 'message-head';
      var topic = document.createElement('b');
      topic.textContent = m.topic;
      var where = document.createElement('span');
      where.className = 'muted mono';
      where.textContent = ' on ' + m.channel + ' · ' + new Date(m.time).toLocaleTimeString() + ' · #' + m.id;
      head.appendChild(topic);
      head.appendChild(where);
      var data = document.createElement('code');
      data.className = 'message-data';
      data.textContent = JSON.stringify(m.data);
      li.appendChild(head);
      li.appendChild(data);
      list.appendChild(li);
      if (none) none.hidden = true;
      if (count) count.textContent = String(list.children.length);
    };
  }

  // Times: the server renders each in UTC, in a <time datetime> element.
  // On request (the footer's button, remembered in localStorage) they are
  // shown in the viewer's zone instead; <html data-tz> says which is shown.
  var TZ_KEY = 'flowui.tz';

  function zoneChoice() {
    try { return window.localStorage.getItem(TZ_KEY) === 'local' ? 'local' : 'utc'; } catch (e) { return 'utc'; }
  }

  function pad(n, w) { n = String(n); while (n.length < (w || 2)) n = '0' + n; return n; }

  // localText formats d in the viewer's zone as the server formats UTC.
  function localText(d) {
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }

  function zoneName() {
    var name = '';
    try { name = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { /* old browser */ }
    var off = -new Date().getTimezoneOffset();
    var sign = off < 0 ? '-' : '+';
    off = Math.abs(off);
    var utc = 'UTC' + sign + pad(Math.floor(off / 60)) + ':' + pad(off % 60);
    return name ? name + ', ' + utc : utc;
  }

  function showTimes(root) {
    var local = zoneChoice() === 'local';
    document.documentElement.setAttribute('data-tz', local ? 'local' : 'utc');
    root.querySelectorAll('time[datetime]').forEach(function (el) {
      if (!el.hasAttribute('data-utc')) el.setAttribute('data-utc', el.textContent);
      var d = new Date(el.getAttribute('datetime'));
      if (local && !isNaN(d.getTime())) {
        el.textContent = localText(d);
        el.title = el.getAttribute('data-utc') + ' UTC';
      } else {
        el.textContent = el.getAttribute('data-utc');
        el.removeAttribute('title');
      }
    });
    var note = document.getElementById('tz-note');
    var button = document.getElementById('tz-toggle');
    if (note) note.textContent = local ? 'Times are in your zone (' + zoneName() + ').' : 'Times are in UTC.';
    if (button) {
      button.hidden = false;
      button.textContent = local ? 'Show times in UTC' : 'Show times in my zone';
    }
  }

  function toggleZone() {
    try { window.localStorage.setItem(TZ_KEY, zoneChoice() === 'local' ? 'utc' : 'local'); } catch (e) { return; }
    showTimes(document);
  }

  function init() {
    showTimes(document);
    var button = document.getElementById('tz-toggle');
    if (button) button.addEventListener('click', toggleZone);
    // Live parts bring new <time> elements in UTC.
    document.addEventListener('flowui:refresh', function (e) { showTimes(e.target); });
    document.querySelectorAll('[data-poll]').forEach(live);
    document.querySelectorAll('[data-stream]').forEach(stream);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
