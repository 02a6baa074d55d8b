// Op timeline on a <canvas>: rows are worker threads (and the nemesis), x is time. Only ops in view are
// drawn, so a million ops cost no DOM nodes. Wheel = zoom around the pointer, drag = pan, hover = op details.
// plots.js decodes the page's op columns into D (times in ms, e = -1: never completed) and calls this.
window.harnessDrawTimeline = function (D) {
  "use strict";
  var holder = document.getElementById("timeline");
  if (!holder) { return; }
  var COLORS = ["#2b8a3e", "#c92a2a", "#e67700"];
  var ROW_H = 18, GUTTER = 92, AXIS = 22;
  var n = D.s.length;
  var end = Math.max(D.end, 1);
  // per-row op lists sorted by start, and the longest op of each row (for the visible-range search)
  var rows = D.rows.map(function () { return { ops: [], maxDur: 0 }; });
  for (var k = 0; k < n; k++) {
    var r = rows[D.row[k]];
    r.ops.push(k);
    var e = D.e[k] < 0 ? end : D.e[k];
    if (e - D.s[k] > r.maxDur) { r.maxDur = e - D.s[k]; }
  }
  // ops come sorted by start (harness.report.timeline), so each row's list is too
  var posOfIndex = null;

  var canvas = document.createElement("canvas");
  var tip = document.createElement("div");
  tip.className = "tl-tip";
  tip.style.display = "none";
  var status = document.getElementById("timeline-status");
  holder.appendChild(canvas);
  holder.appendChild(tip);
  var ctx = canvas.getContext("2d");
  var view = { t0: 0, t1: end };
  var state = { drawn: 0, total: n, view: view, rows: D.rows.length };
  window.harnessTimeline = state;

  function size() {
    var dpr = window.devicePixelRatio || 1;
    var w = holder.clientWidth || 800;
    var h = AXIS + D.rows.length * ROW_H + 4;
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { w: w, h: h };
  }
  var dims = size();
  function xOf(t) { return GUTTER + (t - view.t0) / (view.t1 - view.t0) * (dims.w - GUTTER); }
  function tOf(x) { return view.t0 + (x - GUTTER) / (dims.w - GUTTER) * (view.t1 - view.t0); }
  function lowerBound(list, t) {
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (D.s[list[mid]] < t) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  }
  function niceStep(span) {
    var raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
    var m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }
  function draw() {
    var w = dims.w, h = dims.h;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    // row backgrounds and labels
    for (var rb = 0; rb < rows.length; rb++) {
      ctx.fillStyle = rb % 2 ? "#f8f9fa" : "#ffffff";
      ctx.fillRect(GUTTER, AXIS + rb * ROW_H, w - GUTTER, ROW_H);
      ctx.fillStyle = "#212529";
      ctx.fillText(D.rows[rb], 4, AXIS + rb * ROW_H + 13);
    }
    // axis and grid
    var step = niceStep(view.t1 - view.t0);
    ctx.strokeStyle = "#e9ecef";
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var x = xOf(t);
      ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, h); ctx.stroke();
      var label = (t / 1000).toFixed(step < 1000 ? 3 : 1) + " s";
      ctx.fillStyle = "#495057";
      ctx.fillText(label, Math.min(x + 2, w - ctx.measureText(label).width - 2), 14);
    }
    // fault intervals: shaded over every row, labelled in the nemesis row
    D.faults.forEach(function (fl) {
      var x0 = Math.max(xOf(fl[1]), GUTTER), x1 = Math.min(xOf(fl[2]), w);
      if (x1 <= x0) { return; }
      ctx.globalAlpha = 0.16; ctx.fillStyle = fl[3]; ctx.fillRect(x0, AXIS, x1 - x0, h - AXIS);
      ctx.globalAlpha = 1;
    });
    var drawn = 0;
    for (var ri = 0; ri < rows.length; ri++) {
      var y = AXIS + ri * ROW_H;
      var list = rows[ri].ops;
      var from = lowerBound(list, view.t0 - rows[ri].maxDur);
      var lastX = -1;
      for (var j = from; j < list.length; j++) {
        var k2 = list[j];
        var s = D.s[k2];
        if (s > view.t1) { break; }
        var e2 = D.e[k2] < 0 ? end : D.e[k2];
        if (e2 < view.t0) { continue; }
        var xa = Math.max(xOf(s), GUTTER), xb = Math.min(xOf(e2), w);
        var wd = Math.max(xb - xa, 1);
        if (wd <= 1 && Math.floor(xa) === lastX) { continue; } // same pixel column: one mark is enough
        lastX = Math.floor(xa);
        ctx.fillStyle = COLORS[D.t[k2]];
        ctx.globalAlpha = D.e[k2] < 0 ? 0.35 : 0.85;
        ctx.fillRect(xa, y + 2, wd, ROW_H - 4);
        ctx.globalAlpha = 1;
        if (wd > 40) {
          ctx.fillStyle = "#ffffff";
          ctx.fillText(D.fs[D.f[k2]] + " " + D.val(k2), xa + 3, y + 13, wd - 6);
        }
        drawn++;
      }
    }
    // fault labels last, in the nemesis row, on top of the nemesis ops
    D.faults.forEach(function (fl) {
      var x0 = Math.max(xOf(fl[1]), GUTTER), x1 = Math.min(xOf(fl[2]), w);
      if (x1 - x0 < 8) { return; }
      var tw = Math.min(ctx.measureText(fl[0]).width + 6, x1 - x0);
      ctx.save(); ctx.beginPath(); ctx.rect(x0, AXIS, x1 - x0, ROW_H); ctx.clip();
      ctx.globalAlpha = 0.85; ctx.fillStyle = "#ffffff"; ctx.fillRect(x0, AXIS + 2, tw, ROW_H - 4);
      ctx.globalAlpha = 1; ctx.fillStyle = fl[3]; ctx.fillText(fl[0], x0 + 3, AXIS + 13);
      ctx.restore();
    });
    state.drawn = drawn;
    if (status) {
      status.textContent = "showing " + (view.t0 / 1000).toFixed(3) + " s to " + (view.t1 / 1000).toFixed(3) +
        " s: " + drawn + " of " + n + " ops drawn";
    }
  }
  var pending = false;
  function redraw() { if (!pending) { pending = true; requestAnimationFrame(function () { pending = false; draw(); }); } }
  function clampView() {
    var span = Math.max(view.t1 - view.t0, 1);
    if (span > end) { view.t0 = 0; view.t1 = end; return; }
    if (view.t0 < 0) { view.t0 = 0; view.t1 = span; }
    if (view.t1 > end) { view.t1 = end; view.t0 = end - span; }
  }
  function zoom(factor, atX) {
    var t = tOf(atX);
    view.t0 = t - (t - view.t0) * factor; view.t1 = t + (view.t1 - t) * factor;
    clampView(); redraw();
  }
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoom(ev.deltaY > 0 ? 1.25 : 0.8, ev.offsetX);
  }, { passive: false });
  var drag = null;
  canvas.addEventListener("mousedown", function (ev) { drag = { x: ev.offsetX, t0: view.t0, t1: view.t1 }; });
  window.addEventListener("mouseup", function () { drag = null; });
  function opAt(x, y) {
    var ri = Math.floor((y - AXIS) / ROW_H);
    if (ri < 0 || ri >= rows.length || x < GUTTER) { return -1; }
    var t = tOf(x), tol = (view.t1 - view.t0) / (dims.w - GUTTER) * 2;
    var list = rows[ri].ops, best = -1;
    for (var j = lowerBound(list, t - rows[ri].maxDur - tol); j < list.length && D.s[list[j]] <= t + tol; j++) {
      var k3 = list[j], e3 = D.e[k3] < 0 ? end : D.e[k3];
      if (e3 >= t - tol) { best = k3; }
    }
    return best;
  }
  canvas.addEventListener("mousemove", function (ev) {
    if (drag) {
      var dt = (ev.offsetX - drag.x) / (dims.w - GUTTER) * (drag.t1 - drag.t0);
      view.t0 = drag.t0 - dt; view.t1 = drag.t1 - dt; clampView(); redraw();
      return;
    }
    var k4 = opAt(ev.offsetX, ev.offsetY);
    if (k4 < 0) { tip.style.display = "none"; return; }
    var lat = D.e[k4] < 0 ? "never completed" : (D.e[k4] - D.s[k4]).toFixed(2) + " ms";
    tip.textContent = "#" + D.i[k4] + "  p" + D.proc(k4) + "  " + D.fs[D.f[k4]] + "  " + D.types[D.t[k4]] +
      "  " + lat + "  " + D.val(k4);
    tip.style.left = Math.min(ev.offsetX + 12, dims.w - 260) + "px";
    tip.style.top = (ev.offsetY + 14) + "px";
    tip.style.display = "block";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  function focusOp(index) {
    if (posOfIndex === null) { posOfIndex = {}; for (var q = 0; q < n; q++) { posOfIndex[D.i[q]] = q; } }
    var k5 = posOfIndex[index];
    if (k5 === undefined) { return false; }
    var e5 = D.e[k5] < 0 ? end : D.e[k5], pad = Math.max((e5 - D.s[k5]) * 4, 200);
    view.t0 = D.s[k5] - pad; view.t1 = e5 + pad; clampView(); redraw();
    holder.scrollIntoView({ behavior: "smooth", block: "center" });
    return true;
  }
  state.focusOp = focusOp;
  document.querySelectorAll("[data-tl-op]").forEach(function (a) {
    a.addEventListener("click", function (ev) { if (focusOp(Number(a.getAttribute("data-tl-op")))) { ev.preventDefault(); } });
  });
  var ctl = { "tl-in": 0.5, "tl-out": 2 };
  Object.keys(ctl).forEach(function (id) {
    var b = document.getElementById(id);
    if (b) { b.addEventListener("click", function () { zoom(ctl[id], GUTTER + (dims.w - GUTTER) / 2); }); }
  });
  var fit = document.getElementById("tl-fit");
  if (fit) { fit.addEventListener("click", function () { view.t0 = 0; view.t1 = end; redraw(); }); }
  window.addEventListener("resize", function () { dims = size(); redraw(); });
  draw();
};
