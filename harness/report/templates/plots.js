// The report pages' plots, drawn with the vendored uPlot (harness/report/static, inlined in the page): every
// <div class="plot"> whose spec is a <script class="plot-spec" data-for="its id"> (harness.report.plots).
// The run page's op columns (#ops-header, #ops-blob: zlib-compressed int32 columns in base64, see
// harness.report.timeline) are inflated with the browser's DecompressionStream and give both the latency
// scatter and the timeline. When everything has drawn, window.harnessReport.drawn is true and <html> has
// data-drawn="1" (bench/report.py and the browser tests wait for that).
(function () {
  "use strict";
  var report = { drawn: false, plots: 0, ms: 0, errors: [], phases: {} };  // phases: ms spent in each step
  window.harnessReport = report;
  var SHAPES_MAX = 20000;  // more visible points than this are drawn as pixels, not as shapes
  var SCAN_MAX = 20000;  // points looked at per group for a hover
  var charts = [];
  var started = performance.now();

  function bytesOf(b64) {
    var bin = atob(b64), n = bin.length, out = new Uint8Array(n);
    for (var i = 0; i < n; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  function columns(H, buf) {
    var n = H.n, width = H.columns.length, ints = new Int32Array(buf, 0, n * width), col = {};
    H.columns.forEach(function (name, k) { col[name] = ints.subarray(k * n, (k + 1) * n); });
    var values = new TextDecoder().decode(new Uint8Array(buf, n * width * 4)).split("\0");
    var s = new Float64Array(n), e = new Float64Array(n), idx = new Int32Array(n), us = 0, at = 0;
    for (var k = 0; k < n; k++) {
      us += col.ds[k]; at += col.di[k];
      s[k] = us / 1000; idx[k] = at;
      e[k] = col.dur[k] < 0 ? -1 : (us + col.dur[k]) / 1000;
    }
    return {
      n: n, rows: H.rows, fs: H.fs, types: H.types, faults: H.faults, end: H.end, s: s, e: e, i: idx,
      dur: col.dur, row: col.row, t: col.t, f: col.f, pc: col.p,
      proc: function (k) { var p = col.p[k]; return p >= 0 ? String(p) : H.procs[-1 - p]; },
      val: function (k) { return values[col.v[k]]; }
    };
  }

  function timed(name, fn) {
    var t0 = performance.now(), out = fn();
    report.phases[name] = Math.round(performance.now() - t0);
    return out;
  }

  function decodeOps() {
    var hEl = document.getElementById("ops-header"), bEl = document.getElementById("ops-blob");
    if (!hEl || !bEl) { return Promise.resolve(null); }
    if (typeof DecompressionStream === "undefined") {
      return Promise.reject(new Error("this browser has no DecompressionStream; open the page in a current browser"));
    }
    var H = JSON.parse(hEl.textContent), t0 = performance.now();
    var bytes = timed("base64", function () { return bytesOf(bEl.textContent.trim()); });
    var raw = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(raw).arrayBuffer().then(function (buf) {
      report.phases.inflate = Math.round(performance.now() - t0) - report.phases.base64;
      return timed("columns", function () { return columns(H, buf); });
    });
  }

  function lowerBound(a, v, lo, hi) {
    while (lo < hi) { var mid = (lo + hi) >> 1; if (a[mid] < v) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  }

  function fmt(v, unit, digits) { return v === null || v === undefined ? "-" : v.toFixed(digits) + unit; }
  function pct(v) { return v === null || v === undefined ? "-" : +(v * 100).toFixed(1) + "%"; }

  // fault windows shaded under everything (drawClear), other nemesis ops as dotted lines, labels on top (draw)
  function shade(spec) {
    return function (u) {
      var ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio;
      ctx.save(); ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
      spec.bands.forEach(function (bd) {
        var x0 = u.valToPos(bd.start_s, "x", true), x1 = u.valToPos(bd.end_s, "x", true);
        ctx.globalAlpha = 0.13; ctx.fillStyle = bd.color; ctx.fillRect(x0, b.top, Math.max(x1 - x0, px), b.height);
      });
      ctx.globalAlpha = 1; ctx.strokeStyle = "#868e96"; ctx.lineWidth = px; ctx.setLineDash([2 * px, 3 * px]);
      spec.marks.forEach(function (m) {
        var x = Math.round(u.valToPos(m.time_s, "x", true)) + 0.5;
        ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
      });
      ctx.restore();
    };
  }
  function labels(spec) {
    return function (u) {
      var ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio;
      ctx.save(); ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
      ctx.font = (10 * px) + "px system-ui, sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "alphabetic";
      spec.bands.forEach(function (bd) {
        ctx.fillStyle = bd.color;
        ctx.fillText(bd.label, u.valToPos(bd.start_s, "x", true) + 3 * px, b.top + 11 * px);
      });
      ctx.restore();
    };
  }

  function lineSeries(l) {
    return {
      label: l.name, stroke: l.color, width: 1.5, dash: l.dash ? [5, 4] : undefined, spanGaps: false,
      paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
      value: l.percent ? function (u, v) { return pct(v); } : function (u, v) { return fmt(v, "", 2); }
    };
  }

  function chart(el, spec, lines, yLabel, height, extra) {
    var percent = lines.length > 0 && lines[0].percent;
    var opts = {
      width: Math.max(el.clientWidth, 300), height: height,
      scales: { x: { time: false }, y: percent ? { range: [0, 1.05] } : {} },
      axes: [{ label: "time since test start (s)" },
             { label: yLabel, size: 60, values: percent ? function (u, ts) { return ts.map(pct); } : undefined }],
      series: [{ label: "t", value: function (u, v) { return fmt(v, " s", 3); } }].concat(lines.map(lineSeries)),
      hooks: { drawClear: [shade(spec)], draw: [labels(spec)] },
      cursor: { sync: { key: el.id } }
    };
    if (extra) { extra(opts); }
    var u = new uPlot(opts, [spec.x].concat(lines.map(function (l) { return l.y; })), el);
    charts.push([el, u]);
    return u;
  }

  // --- latency: percentile lines by uPlot, every completed client op drawn by us --------------------------
  function latencyPoints(D) {
    var byKey = {}, groups = [], lo = Infinity, hi = 0;
    for (var k = 0; k < D.n; k++) {
      if (D.pc[k] < 0 || D.dur[k] < 0) { continue; }
      var key = D.f[k] * 3 + D.t[k], g = byKey[key];
      if (!g) { g = byKey[key] = { f: D.f[k], t: D.t[k], idx: [], on: true }; groups.push(g); }
      g.idx.push(k);
      var ms = Math.max(D.dur[k] / 1000, 1e-3);
      if (ms < lo) { lo = ms; } if (ms > hi) { hi = ms; }
    }
    groups.forEach(function (g) {
      var m = g.idx.length;
      g.x = new Float64Array(m); g.ly = new Float32Array(m);
      for (var j = 0; j < m; j++) {
        var k2 = g.idx[j];
        g.x[j] = D.s[g.idx[j]] / 1000; g.ly[j] = Math.log10(Math.max(D.dur[k2] / 1000, 1e-3));
      }
    });
    groups.sort(function (a, b) { return a.f - b.f || a.t - b.t; });
    return { groups: groups, lo: lo, hi: hi };
  }

  function symbol(ctx, f, x, y, r) {
    switch (f % 4) {
      case 0: ctx.moveTo(x + r, y); ctx.arc(x, y, r, 0, 2 * Math.PI); break;
      case 1: ctx.moveTo(x, y - r - 1); ctx.lineTo(x + r + 1, y); ctx.lineTo(x, y + r + 1); ctx.lineTo(x - r - 1, y); ctx.closePath(); break;
      case 2: ctx.rect(x - r, y - r, 2 * r, 2 * r); break;
      default: ctx.moveTo(x, y - r - 1); ctx.lineTo(x + r + 1, y + r); ctx.lineTo(x - r - 1, y + r); ctx.closePath();
    }
  }

  function rgba32(hex) {  // "#rrggbb" as a little-endian RGBA pixel
    var v = parseInt(hex.slice(1), 16);
    return ((0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
  }

  function drawPoints(P, colors, types) {
    var off = document.createElement("canvas");
    return function (u) {
      var b = u.bbox, ctx = u.ctx, x0 = u.scales.x.min, x1 = u.scales.x.max;
      var ly0 = Math.log10(u.scales.y.min), ly1 = Math.log10(u.scales.y.max);
      var sx = b.width / (x1 - x0), sy = b.height / (ly1 - ly0), total = 0, spans = [];
      P.groups.forEach(function (g) {
        if (!g.on) { return; }
        var a = lowerBound(g.x, x0, 0, g.x.length), z = lowerBound(g.x, x1 + 1e-9, a, g.x.length);
        spans.push([g, a, z]); total += z - a;
      });
      ctx.save(); ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
      if (total <= SHAPES_MAX) {
        var r = 2 * uPlot.pxRatio;
        ctx.globalAlpha = 0.55;
        spans.forEach(function (sp) {
          var g = sp[0];
          ctx.fillStyle = colors[types[g.t]]; ctx.beginPath();
          for (var j = sp[1]; j < sp[2]; j++) {
            symbol(ctx, g.f, b.left + (g.x[j] - x0) * sx, b.top + b.height - (g.ly[j] - ly0) * sy, r);
          }
          ctx.fill();
        });
      } else {  // a million points: straight into pixels, a 2x2 square each
        var w = Math.max(Math.ceil(b.width), 1), h = Math.max(Math.ceil(b.height), 1);
        off.width = w; off.height = h;
        var octx = off.getContext("2d"), img = octx.createImageData(w, h), px = new Uint32Array(img.data.buffer);
        spans.forEach(function (sp) {
          var g = sp[0], c = rgba32(colors[types[g.t]]);
          for (var j = sp[1]; j < sp[2]; j++) {
            var x = ((g.x[j] - x0) * sx) | 0, y = (h - 1 - (g.ly[j] - ly0) * sy) | 0;
            if (x < 0 || y < 0 || x >= w - 1 || y >= h - 1) { continue; }
            var o = y * w + x;
            px[o] = c; px[o + 1] = c; px[o + w] = c; px[o + w + 1] = c;
          }
        });
        octx.putImageData(img, 0, 0);
        ctx.globalAlpha = 0.7;
        ctx.drawImage(off, b.left, b.top);
      }
      ctx.restore();
    };
  }

  function nearest(u, P, cx, cy) {  // cx, cy: CSS pixels in the plotting area
    var xv = u.posToVal(cx, "x"), tol = 6 * (u.scales.x.max - u.scales.x.min) / u.over.clientWidth;
    var ly0 = Math.log10(u.scales.y.min), ly1 = Math.log10(u.scales.y.max), hgt = u.over.clientHeight;
    var best = null, bestD = 64;
    P.groups.forEach(function (g) {
      if (!g.on) { return; }
      var a = lowerBound(g.x, xv - tol, 0, g.x.length), z = Math.min(lowerBound(g.x, xv + tol, a, g.x.length), a + SCAN_MAX);
      for (var j = a; j < z; j++) {
        var dx = u.valToPos(g.x[j], "x") - cx, dy = hgt - (g.ly[j] - ly0) / (ly1 - ly0) * hgt - cy;
        var d = dx * dx + dy * dy;
        if (d < bestD) { bestD = d; best = g.idx[j]; }
      }
    });
    return best;
  }

  function legendOf(el, P, D, u, colors) {
    var box = document.createElement("div");
    box.className = "point-legend";
    P.groups.forEach(function (g) {
      var label = document.createElement("label"), cb = document.createElement("input");
      cb.type = "checkbox"; cb.checked = true;
      cb.addEventListener("change", function () { g.on = cb.checked; u.redraw(false, false); });
      var sw = document.createElement("span");
      sw.textContent = "\u25cf\u25c6\u25a0\u25b2".charAt(g.f % 4); sw.style.color = colors[D.types[g.t]];
      label.appendChild(cb); label.appendChild(sw);
      label.appendChild(document.createTextNode(" " + D.fs[g.f] + " " + D.types[g.t] + " (" + g.idx.length + ")"));
      box.appendChild(label);
    });
    el.appendChild(box);
  }

  function latency(el, spec, D) {
    var P = D ? latencyPoints(D) : { groups: [], lo: Infinity, hi: 0 }, lo = P.lo, hi = P.hi;
    spec.lines.forEach(function (l) { l.y.forEach(function (v) { if (v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (!isFinite(lo)) { lo = 0.1; hi = 10; }
    var ylo = Math.pow(10, Math.floor(Math.log10(Math.max(lo, 1e-3))));
    var yhi = Math.pow(10, Math.ceil(Math.log10(Math.max(hi * 1.5, ylo * 10))));  // room above a timeout
    var u = chart(el, spec, spec.lines, spec.y_label, spec.height, function (o) {
      o.scales.y = { distr: 3, log: 10, range: function () { return [ylo, yhi]; } };
      o.axes[1].values = function (uu, ts) { return ts.map(function (v) { return v == null ? "" : +v.toPrecision(3) + ""; }); };
      o.series.slice(1).forEach(function (s) { s.value = function (uu, v) { return fmt(v, " ms", 2); }; });
      o.hooks.drawClear.push(drawPoints(P, spec.colors, D ? D.types : []));
    });
    if (!D) { return u; }
    legendOf(el, P, D, u, spec.colors);
    var tip = document.createElement("div");
    tip.className = "plot-tip"; tip.style.display = "none";
    el.style.position = "relative"; el.appendChild(tip);
    u.over.addEventListener("mousemove", function (ev) {
      var k = nearest(u, P, ev.offsetX, ev.offsetY);
      if (k === null) { tip.style.display = "none"; return; }
      tip.textContent = "#" + D.i[k] + "  p" + D.proc(k) + "  " + D.fs[D.f[k]] + " " + D.types[D.t[k]] + "  t=" +
        (D.s[k] / 1000).toFixed(3) + " s  " + (D.dur[k] / 1000).toFixed(2) + " ms  " + D.val(k);
      tip.style.left = (u.over.offsetLeft + ev.offsetX + 12) + "px";
      tip.style.top = (u.over.offsetTop + ev.offsetY + 14) + "px";
      tip.style.display = "block";
    });
    u.over.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    return u;
  }

  // --- throughput: ops/s by outcome, with availability below on the same x (cursor and zoom synced) ---------
  function throughput(el, spec) {
    var all = [], syncing = false;
    function sync(o) {
      o.hooks.setScale = [function (u, key) {
        if (key !== "x" || syncing) { return; }
        syncing = true;
        all.forEach(function (v) { if (v !== u) { v.setScale("x", { min: u.scales.x.min, max: u.scales.x.max }); } });
        syncing = false;
      }];
    }
    all.push(chart(el, spec, spec.lines, spec.y_label, spec.height, sync));
    spec.panels.forEach(function (lines, i) {
      all.push(chart(el, spec, lines, spec.panel_labels[i] || "", 200, sync));
    });
  }

  function lines(el, spec) {
    chart(el, spec, spec.lines, spec.y_label, spec.height, function (o) {
      o.series.slice(1).forEach(function (s) { s.spanGaps = true; });
    });
  }

  function failed(el, what, e) {
    report.errors.push(what + ": " + e);
    var p = document.createElement("p");
    p.className = "problems"; p.textContent = what + " could not be drawn: " + e;
    el.appendChild(p);
  }

  function drawAll(D) {
    document.querySelectorAll("script.plot-spec").forEach(function (s) {
      var el = document.getElementById(s.getAttribute("data-for"));
      if (!el) { return; }
      try {
        var spec = JSON.parse(s.textContent);
        timed(el.id, function () {
          if (spec.kind === "latency") { latency(el, spec, D); }
          else if (spec.kind === "throughput") { throughput(el, spec); }
          else { lines(el, spec); }
        });
        el.setAttribute("data-drawn", "1");
        report.plots++;
      } catch (e) { failed(el, "the plot " + el.id, e); }
    });
    if (D && window.harnessDrawTimeline) { timed("timeline", function () { window.harnessDrawTimeline(D); }); }
    report.phases.script_start = Math.round(started);
    requestAnimationFrame(function () {
      report.drawn = true; report.ms = performance.now();
      document.documentElement.setAttribute("data-drawn", "1");
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c[1].setSize({ width: Math.max(c[0].clientWidth, 300), height: c[1].height }); });
  });
  decodeOps().then(drawAll, function (e) {
    var tl = document.getElementById("timeline");
    if (tl) { failed(tl, "the timeline", e); }
    drawAll(null);
  });
})();
