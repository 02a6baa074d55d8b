"""The linearizability page: one self-contained HTML file (inline CSS and JS, no network) in the spirit of
Porcupine's visualizer.

Owns `write_page`. Each shown part is a lane per process; an op is a bar from its invocation to its completion
(an op with unknown outcome runs dashed to the end); the linearization (or, for an illegal part, the longest
partial one) is drawn as points on the bars joined in order; hovering an op shows what it did and the model's
state after it. The op that cannot be placed is red. Does not own the search or the words of the verdict.
"""

from __future__ import annotations

import html as html_escape
from collections.abc import Hashable

import orjson

from checkers.linearizable.explain import show_key
from checkers.linearizable.model import Entry, Model
from checkers.linearizable.search import ILLEGAL, OK, PartResult, replay
from harness.op import History

__all__ = ["write_page"]

MAX_PARTS = 12
MAX_OPS_PER_PART = 2500


def _part_data(model: Model, entries: list[Entry], result: PartResult | None) -> dict[str, object]:
    shown = entries[:MAX_OPS_PER_PART]
    positions = sorted({e.call for e in shown} | {e.ret for e in shown if e.ret is not None})
    rank = {p: i for i, p in enumerate(positions)}
    end = len(positions)
    order: list[int] = []
    if result is not None:
        order = list(result.linearization if result.outcome == OK else result.longest)
    order = [i for i in order if i < len(shown)]
    states = replay(model, entries, order) if order else []
    point: dict[int, float] = {}
    state_after: dict[int, str] = {}
    prev = -1.0
    for i, s in zip(order, states):
        e = entries[i]
        lo = float(rank[e.call])
        hi = float(rank[e.ret]) if e.ret is not None else float(end)
        x = max(lo + 0.1, prev + 0.05)
        x = min(x, hi - 0.05) if hi > lo else x
        point[i] = x
        prev = x
        state_after[i] = model.describe_state(s)
    blocked = result.blocked if result is not None and result.outcome == ILLEGAL else None
    ops = []
    for e in shown:
        ops.append({
            "id": e.id, "p": str(e.process), "a": rank[e.call], "b": rank[e.ret] if e.ret is not None else None,
            "d": model.describe_operation(e.input, e.output), "i": e.invoke_index,
            "x": point.get(e.id), "s": state_after.get(e.id), "bad": e.id == blocked,
        })
    outcome = result.outcome if result is not None else "not checked"
    return {"key": "", "outcome": outcome, "end": end, "ops": ops,
            "order": order, "truncated": len(entries) > len(shown), "n": len(entries),
            "init": model.describe_state(model.init())}


def write_page(path: str, model: Model, history: History, parts: dict[Hashable, list[Entry]],
               results: list[PartResult], illegal: PartResult | None, summary: str) -> None:
    by_key = {r.key: r for r in results}
    keys: list[Hashable] = []
    if illegal is not None:
        keys.append(illegal.key)
    for k in parts:
        if len(keys) >= MAX_PARTS:
            break
        if k not in keys:
            keys.append(k)
    data = []
    for k in keys:
        d = _part_data(model, parts[k], by_key.get(k))
        d["key"] = show_key(k)
        data.append(d)
    payload = orjson.dumps({"summary": summary, "model": model.name, "parts": data, "total_parts": len(parts)},
                           default=str).decode().replace("</", "<\\/")
    title = html_escape.escape(f"linearizability: {summary}")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(_PAGE.replace("__TITLE__", title).replace("__DATA__", payload))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:16px} h2{font-size:14px;margin:18px 0 4px}
.ok{color:#176f2c}.illegal{color:#b00020}.other{color:#8a6d00}
.wrap{overflow-x:auto;border:1px solid #ddd;padding:4px 0}
svg text{font:11px system-ui,sans-serif}
#tip{position:fixed;pointer-events:none;background:#fffbe6;border:1px solid #bbb;padding:4px 6px;
 font:12px monospace;white-space:pre;display:none;z-index:9}
.legend span{display:inline-block;margin-right:14px}
</style></head><body>
<h1 id="title"></h1>
<div class="legend"><span>bar: invocation to completion (dashed: outcome unknown)</span>
<span>&#9679; linearization point, joined in order</span><span style="color:#b00020">red: the op that cannot be
placed</span></div>
<div id="parts"></div><div id="tip"></div>
<script>
const D = __DATA__;
const NS = "http://www.w3.org/2000/svg";
document.getElementById("title").textContent = "Linearizability (" + D.model + "): " + D.summary;
const tip = document.getElementById("tip");
function el(name, attrs, parent){const e=document.createElementNS(NS,name);
  for(const k in attrs) e.setAttribute(k, attrs[k]); if(parent) parent.appendChild(e); return e;}
function hover(node, text){
  node.addEventListener("mousemove", ev => {tip.style.display="block"; tip.textContent=text;
    tip.style.left=(ev.clientX+12)+"px"; tip.style.top=(ev.clientY+12)+"px";});
  node.addEventListener("mouseleave", () => {tip.style.display="none";});
}
const box = document.getElementById("parts");
for (const part of D.parts) {
  const h = document.createElement("h2");
  const cls = part.outcome === "ok" ? "ok" : part.outcome === "illegal" ? "illegal" : "other";
  h.innerHTML = ""; h.textContent = part.key + " - " + part.n + " ops - ";
  const s = document.createElement("span"); s.className = cls;
  s.textContent = part.outcome === "ok" ? "linearizable" : part.outcome === "illegal" ?
    "not linearizable (longest partial linearization shown)" : part.outcome;
  h.appendChild(s); box.appendChild(h);
  if (part.truncated) { const p=document.createElement("p"); p.textContent="(first ops only)"; box.appendChild(p); }
  const procs = [...new Set(part.ops.map(o => o.p))];
  procs.sort((a,b) => (+a - +b) || (a < b ? -1 : a > b ? 1 : 0));
  const lane = {}; procs.forEach((p,i) => lane[p] = i);
  const X = 16, L = 70, W = Math.max(700, (part.end + 2) * X + L), H = procs.length * 24 + 30;
  const wrap = document.createElement("div"); wrap.className = "wrap"; box.appendChild(wrap);
  const svg = el("svg", {width: W, height: H}); wrap.appendChild(svg);
  const x = v => L + v * X, y = p => 20 + lane[p] * 24;
  procs.forEach(p => { el("text", {x: 4, y: y(p) + 12}, svg).textContent = "p" + p;
    el("line", {x1: L, x2: W, y1: y(p)+8, y2: y(p)+8, stroke: "#f0f0f0"}, svg); });
  el("text", {x: L, y: 12}, svg).textContent = "initial state: " + part.init;
  for (const o of part.ops) {
    const b = o.b === null ? part.end + 1 : o.b;
    const r = el("rect", {x: x(o.a), y: y(o.p), width: Math.max(4, x(b) - x(o.a)), height: 16, rx: 3,
      fill: o.bad ? "#f8c7cf" : o.x !== null ? "#cfe3fb" : "#eee",
      stroke: o.bad ? "#b00020" : "#5b7fa8", "stroke-dasharray": o.b === null ? "4 3" : "none"}, svg);
    hover(r, "op #" + o.i + "  process " + o.p + "\\n" + o.d +
      (o.s !== null ? "\\nstate after: " + o.s : o.bad ? "\\ncannot be placed" : "\\n(not linearized)"));
  }
  const pts = part.order.map(id => part.ops.find(o => o.id === id)).filter(o => o && o.x !== null);
  if (pts.length > 1) el("polyline", {points: pts.map(o => x(o.x) + "," + (y(o.p)+8)).join(" "),
    fill: "none", stroke: "#2a6", "stroke-width": 1, opacity: 0.7}, svg);
  pts.forEach((o, k) => { const c = el("circle", {cx: x(o.x), cy: y(o.p)+8, r: 3.5, fill: "#176f2c"}, svg);
    hover(c, "step " + (k+1) + ": " + o.d + "\\nstate after: " + o.s); });
}
if (D.total_parts > D.parts.length) { const p = document.createElement("p");
  p.textContent = "(" + (D.total_parts - D.parts.length) + " more parts not drawn)"; box.appendChild(p); }
</script></body></html>
"""
