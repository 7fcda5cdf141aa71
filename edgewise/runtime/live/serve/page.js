// edgewise live view: keeps the last history_s seconds of the stream from /events and draws it on a canvas.
// Messages: a first {"type": "snapshot", ...} (also after every reconnect), then the stream objects as
// `edgewise run --jsonl` prints them, and {"type": "samples", "i": [...], "v": [...], "end": n} for the trace.
// What the last frame drew is written as JSON into <pre id="drawn"> so tests can compare it with the stream.
"use strict";
(function () {
  const WAVE_COLORS = { P: [30, 100, 230], QRS: [220, 40, 40], T: [30, 160, 60] };
  const EVENT_COLOR = [230, 120, 0];
  const PROB_COLOR = [110, 40, 170];
  const FAULT_COLOR = [190, 0, 160];
  const TRACE_COLOR = "rgb(25,25,25)";
  const rgb = (c, a) => (a === undefined ? `rgb(${c[0]},${c[1]},${c[2]})` : `rgba(${c[0]},${c[1]},${c[2]},${a})`);
  const KINDS = ["wave", "hr", "window", "event", "gap", "fault"];

  const S = {
    meta: { task: null, fs: 1, history_s: 10, bucket: 1, threshold: 0.5, model: null },
    now: 0, pi: [], pv: [], items: {}, totals: { waves: {}, events: 0, windows: 0, gaps: 0, gap_samples: 0, faults: {} },
    extra: {}, openEvent: null, connected: false, ended: false, messages: 0,
  };
  for (const k of KINDS) S.items[k] = [];
  let dirty = true;
  let frame = 0;

  // ---- state ------------------------------------------------------------------------------------
  function gapSpan(g) {  // [start, end) in samples: ECG gaps give indices, mosquito gaps seconds
    if (typeof g.start === "number") return [g.start, g.start + g.samples];
    return [Math.round(g.start_s * S.meta.fs), Math.round(g.end_s * S.meta.fs)];
  }

  function endIndex(o) {
    switch (o.type) {
      case "wave": return o.offset + 1;
      case "hr": case "fault": return o.at + 1;
      case "gap": return gapSpan(o)[1];
      case "window": case "event": return Math.round(o.end_s * S.meta.fs);
      case "event_open": return Math.round(o.start_s * S.meta.fs);
      default: return 0;
    }
  }

  function fromSnapshot(o) {
    S.meta = { task: o.task, fs: o.fs, history_s: o.history_s, bucket: o.bucket, threshold: o.threshold, model: o.model };
    S.now = o.now;
    S.pi = o.samples.i.slice();
    S.pv = o.samples.v.slice();
    for (const k of KINDS) S.items[k] = (o[k + "s"] || []).slice();
    S.totals = o.totals;
    S.extra = o.extra || {};
    S.openEvent = o.open_event || null;
    S.ended = "end" in S.extra || "summary" in S.extra;
    setupLegend();
  }

  function startStream(o) {
    S.now = 0; S.pi = []; S.pv = []; S.extra = {}; S.openEvent = null; S.ended = false;
    for (const k of KINDS) S.items[k] = [];
    S.totals = { waves: {}, events: 0, windows: 0, gaps: 0, gap_samples: 0, faults: {} };
    if (o.task) S.meta.task = o.task;
    if (typeof o.fs === "number" && o.fs > 0) S.meta.fs = o.fs;
    if (typeof o.threshold === "number") S.meta.threshold = o.threshold;
    else if (typeof o.on === "number") S.meta.threshold = o.on;
    S.meta.model = o.model || null;
    setupLegend();
  }

  function apply(o) {
    const t = S.totals;
    if (o.type === "samples") {
      for (let k = 0; k < o.i.length; k++) { S.pi.push(o.i[k]); S.pv.push(o.v[k]); }
      S.now = Math.max(S.now, o.end);
    } else if (o.type === "start") {
      startStream(o);
    } else if (o.type === "event_open") {
      S.openEvent = o;
      S.now = Math.max(S.now, endIndex(o));
    } else if (KINDS.includes(o.type)) {
      S.items[o.type].push(o);
      S.now = Math.max(S.now, endIndex(o));
      if (o.type === "wave") t.waves[o.wave] = (t.waves[o.wave] || 0) + 1;
      else if (o.type === "event") { t.events += 1; S.openEvent = null; }
      else if (o.type === "window") t.windows += 1;
      else if (o.type === "gap") { t.gaps += 1; t.gap_samples += o.samples || 0; }
      else if (o.type === "fault") t.faults[o.kind] = (t.faults[o.kind] || 0) + (o.count || 1);
    } else {
      S.extra[o.type] = o;
      if (o.type === "end" || o.type === "summary") S.ended = true;
    }
    trim();
  }

  function trim() {
    const cutoff = S.now - S.meta.history_s * S.meta.fs;
    let n = 0;
    while (n < S.pi.length && S.pi[n] < cutoff) n++;
    if (n) { S.pi.splice(0, n); S.pv.splice(0, n); }
    for (const k of KINDS) {
      const a = S.items[k];
      let m = 0;
      while (m < a.length && endIndex(a[m]) <= cutoff) m++;
      if (m) a.splice(0, m);
    }
  }

  // ---- connection -------------------------------------------------------------------------------
  let source = null;
  function connect() {
    source = new EventSource("events");
    source.onopen = () => { S.connected = true; dirty = true; };
    source.onmessage = (m) => {
      const o = JSON.parse(m.data);
      if (o.type === "snapshot") fromSnapshot(o); else apply(o);
      S.messages += 1;
      dirty = true;
    };
    source.onerror = () => {
      S.connected = false;
      dirty = true;
      if (source.readyState === EventSource.CLOSED) { source.close(); setTimeout(connect, 2000); }
    };
  }

  // ---- drawing ----------------------------------------------------------------------------------
  function setupLegend() {
    const el = document.getElementById("legend");
    const entries = S.meta.task === "mosquito"
      ? [["p(mosquito)", PROB_COLOR], ["event", EVENT_COLOR], ["fault", FAULT_COLOR]]
      : [["P", WAVE_COLORS.P], ["QRS", WAVE_COLORS.QRS], ["T", WAVE_COLORS.T], ["fault", FAULT_COLOR]];
    el.innerHTML = entries.map(([name, c]) => `<span class="sw" style="background:${rgb(c)}"></span>${name}`).join("");
    document.body.dataset.task = S.meta.task || "";
  }

  function spanX(X, a, b, L, R) {  // a clipped [a, b) sample span in pixels, or null when off screen
    const x0 = Math.max(X(a), L), x1 = Math.min(X(b), R);
    return x1 > x0 ? [x0, Math.max(x1 - x0, 1)] : null;
  }

  function draw() {
    const cv = document.getElementById("plot");
    const dpr = window.devicePixelRatio || 1;
    const W = cv.clientWidth, H = cv.clientHeight;
    if (cv.width !== Math.round(W * dpr) || cv.height !== Math.round(H * dpr)) {
      cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const fs = S.meta.fs, span = S.meta.history_s * fs, to = S.now, from = to - span;
    const L = 56, Rm = 12, T = 22, B = 26, STRIP = 12;
    const pw = W - L - Rm, ph = H - T - B, traceH = ph - STRIP - 4, stripY = T + ph - STRIP;
    const X = (idx) => L + ((idx - from) / span) * pw;
    const inWindow = (o) => endIndex(o) > from;

    // time grid: one line per second (every 10 s on the 60 s view)
    const step = S.meta.history_s > 20 ? 10 : 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#666"; ctx.strokeStyle = "#eee"; ctx.lineWidth = 1;
    for (let s = Math.ceil(from / fs / step) * step; s <= to / fs; s += step) {
      const x = Math.round(X(s * fs)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + ph); ctx.stroke();
      ctx.fillText(`${s} s`, x - 8, T + ph + 16);
    }
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(L + 0.5, T + 0.5, pw - 1, ph - 1);

    const drawn = { frame: frame, task: S.meta.task, fs: fs, now: to, from: from, history_s: S.meta.history_s,
                    connected: S.connected, ended: S.ended, waves: [], hr: null, windows: [], events: [],
                    open_event: null, gaps: [], faults: [], points: 0, first_i: null, last_i: null, big: "--", threshold: S.meta.threshold };

    // gaps: grey, full height
    for (const g of S.items.gap.filter(inWindow)) {
      const [g0, g1] = gapSpan(g);
      const sx = spanX(X, g0, g1, L, L + pw);
      if (!sx) continue;
      ctx.fillStyle = "rgba(128,128,128,0.28)"; ctx.fillRect(sx[0], T, sx[1], ph);
      ctx.fillStyle = "#444"; ctx.fillText(`gap (${g.reason})`, sx[0] + 3, T + 12);
      drawn.gaps.push({ start: g0, samples: g1 - g0, reason: g.reason });
    }

    if (S.meta.task === "mosquito") drawMosquito(ctx, drawn, X, from, to, L, pw, T, traceH, stripY, STRIP, inWindow);
    else drawEcg(ctx, drawn, X, from, to, L, pw, T, traceH, stripY, STRIP, inWindow);

    // faults: a marker at the top with the kind
    for (const f of S.items.fault.filter(inWindow)) {
      const x = Math.round(X(f.at)) + 0.5;
      if (x < L || x > L + pw) continue;
      ctx.strokeStyle = rgb(FAULT_COLOR); ctx.setLineDash([3, 3]);
      ctx.beginPath(); ctx.moveTo(x, T); ctx.lineTo(x, T + traceH); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = rgb(FAULT_COLOR);
      ctx.beginPath(); ctx.moveTo(x - 6, T - 12); ctx.lineTo(x + 6, T - 12); ctx.lineTo(x, T - 2); ctx.fill();
      ctx.fillText(f.count > 1 ? `${f.kind} x${f.count}` : f.kind, x + 8, T - 4);
      drawn.faults.push({ kind: f.kind, at: f.at, count: f.count });
    }

    document.getElementById("big").textContent = drawn.big;
    updateStatus(to / fs);
    drawn.frame = ++frame;
    document.getElementById("drawn").textContent = JSON.stringify(drawn);
    document.body.dataset.frame = String(frame);
    document.body.dataset.now = String(to);
  }

  function drawEcg(ctx, drawn, X, from, to, L, pw, T, traceH, stripY, STRIP, inWindow) {
    // waves: a light band behind the trace and a solid bar in the strip below it
    for (const w of S.items.wave.filter(inWindow)) {
      const c = WAVE_COLORS[w.wave] || [120, 120, 120];
      const sx = spanX(X, w.onset, w.offset + 1, L, L + pw);
      if (!sx) continue;
      ctx.fillStyle = rgb(c, 0.13); ctx.fillRect(sx[0], T, sx[1], traceH);
      ctx.fillStyle = rgb(c); ctx.fillRect(sx[0], stripY, sx[1], STRIP);
      drawn.waves.push({ wave: w.wave, onset: w.onset, offset: w.offset });
    }
    // the trace, auto-scaled to what is on screen; broken at gaps and non-finite samples
    let lo = Infinity, hi = -Infinity, first = -1;
    for (let k = 0; k < S.pi.length; k++) {
      if (S.pi[k] < from) continue;
      if (first < 0) first = k;
      const v = S.pv[k];
      if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (first >= 0 && hi >= lo) {
      const pad = Math.max((hi - lo) * 0.08, 1e-6);
      lo -= pad; hi += pad;
      const Y = (v) => T + 4 + (1 - (v - lo) / (hi - lo)) * (traceH - 8);
      const breakAt = Math.max(3, 2 * S.meta.bucket + 2);
      ctx.strokeStyle = TRACE_COLOR; ctx.lineWidth = 1.4; ctx.lineJoin = "round";
      ctx.beginPath();
      let pen = false, prev = null;
      for (let k = first; k < S.pi.length; k++) {
        const i = S.pi[k], v = S.pv[k];
        if (v === null) { pen = false; continue; }
        if (pen && prev !== null && i - prev > breakAt) pen = false;
        if (pen) ctx.lineTo(X(i), Y(v)); else ctx.moveTo(X(i), Y(v));
        pen = true; prev = i;
      }
      ctx.stroke();
      ctx.fillStyle = "#666";
      ctx.fillText(hi.toPrecision(3), 4, T + 12);
      ctx.fillText(lo.toPrecision(3), 4, T + traceH);
      drawn.points = S.pi.length - first;
      drawn.first_i = S.pi[first];
      drawn.last_i = S.pi[S.pi.length - 1];
    }
    // heart rate: the newest estimate still on screen
    const hrs = S.items.hr.filter(inWindow);
    const hr = hrs.length ? hrs[hrs.length - 1] : null;
    if (hr) {
      drawn.hr = { at: hr.at, bpm: hr.bpm };
      drawn.big = String(Math.round(hr.bpm));
    }
    document.getElementById("bigunit").textContent = "bpm";
    document.getElementById("big").className = "";
  }

  function drawMosquito(ctx, drawn, X, from, to, L, pw, T, traceH, stripY, STRIP, inWindow) {
    const fs = S.meta.fs, thr = S.meta.threshold;
    const Y = (p) => T + 4 + (1 - p) * (traceH - 8);
    for (const e of S.items.event.filter(inWindow)) {
      const sx = spanX(X, e.start_s * fs, e.end_s * fs, L, L + pw);
      if (!sx) continue;
      ctx.fillStyle = rgb(EVENT_COLOR, 0.18); ctx.fillRect(sx[0], T, sx[1], traceH);
      ctx.fillStyle = rgb(EVENT_COLOR); ctx.fillRect(sx[0], stripY, sx[1], STRIP);
      drawn.events.push({ start_s: e.start_s, end_s: e.end_s, p: e.p });
    }
    const open = S.openEvent;
    if (open) {  // an event that has opened and not closed yet: from its start to now, lighter, dashed
      const sx = spanX(X, open.start_s * fs, to, L, L + pw);
      if (sx) {
        ctx.fillStyle = rgb(EVENT_COLOR, 0.1); ctx.fillRect(sx[0], T, sx[1], traceH);
        ctx.strokeStyle = rgb(EVENT_COLOR); ctx.setLineDash([4, 3]); ctx.lineWidth = 2;
        ctx.strokeRect(sx[0] + 1, stripY + 1, Math.max(sx[1] - 2, 1), STRIP - 2); ctx.setLineDash([]);
        ctx.fillStyle = rgb(EVENT_COLOR); ctx.fillText("event open", sx[0] + 3, T + 24);
      }
      drawn.open_event = { start_s: open.start_s, p: open.p };
    }
    ctx.fillStyle = "#666";
    for (const p of [0, 0.5, 1]) ctx.fillText(p.toFixed(1), 30, Y(p) + 4);
    ctx.strokeStyle = "#b3261e"; ctx.setLineDash([6, 4]); ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(L, Y(thr)); ctx.lineTo(L + pw, Y(thr)); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#b3261e"; ctx.fillText(`threshold ${thr.toFixed(2)}`, L + pw - 90, Y(thr) - 4);
    // probability of each window, at the window's centre
    const wins = S.items.window.filter(inWindow);
    ctx.strokeStyle = rgb(PROB_COLOR); ctx.lineWidth = 2; ctx.lineJoin = "round";
    ctx.beginPath();
    let pen = false, prevEnd = null;
    for (const w of wins) {
      drawn.windows.push({ start_s: w.start_s, end_s: w.end_s, p: w.p });
      if (prevEnd !== null && w.start_s > prevEnd + 1e-6) pen = false;  // windows overlap or abut unless a gap
      prevEnd = w.end_s;
      if (w.p === null) { pen = false; continue; }
      const x = X(((w.start_s + w.end_s) / 2) * fs), y = Y(Math.min(Math.max(w.p, 0), 1));
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
    }
    ctx.stroke();
    const last = wins.length ? wins[wins.length - 1] : null;
    if (last && last.p !== null) drawn.big = last.p.toFixed(2);
    const alarm = !!last && last.p !== null && last.p >= thr;
    document.getElementById("bigunit").textContent = alarm ? "p(mosquito) \u2265 threshold" : "p(mosquito)";
    document.getElementById("big").className = alarm ? "alarm" : "";
  }

  function updateStatus(seconds) {
    const st = document.getElementById("status");
    st.className = S.connected ? "ok" : "bad";
    const parts = [S.connected ? (S.ended ? "connected, stream ended" : "connected")
                               : (S.ended ? "stream ended, server stopped" : "reconnecting\u2026")];
    parts.push(`t = ${seconds.toFixed(1)} s`);
    st.textContent = parts.join(" \u00b7 ");
    const title = `edgewise live \u2014 ${S.meta.task === "mosquito" ? "mosquito" : "ECG"}` + (S.meta.model ? ` (${S.meta.model})` : "");
    document.getElementById("title").textContent = title;
    const t = S.totals, faults = Object.entries(t.faults || {}).map(([k, n]) => `${k} ${n}`).join(", ");
    const c = [];
    if (S.meta.task === "mosquito") c.push(`events ${t.events || 0}`);
    else c.push(`beats ${(t.waves || {}).QRS || 0}`);
    c.push(`gaps ${t.gaps || 0}` + (t.gaps ? ` (${(t.gap_samples / S.meta.fs).toFixed(1)} s)` : ""));
    c.push(`faults ${faults || 0}`);
    document.getElementById("counters").textContent = c.join(" \u00b7 ");
  }

  function loop() {
    if (dirty) { dirty = false; draw(); }
    requestAnimationFrame(loop);
  }

  window.addEventListener("resize", () => { dirty = true; });
  setupLegend();
  connect();
  requestAnimationFrame(loop);
})();
