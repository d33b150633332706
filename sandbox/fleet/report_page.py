"""The report as one self-contained HTML page: no network, no CDN, charts drawn by inline script.

The styles and the script that draws the charts (inline SVG) are in the page, the data is one
JSON block in it; tables are plain HTML, readable without script.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_html"]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _who_cell(caller: Mapping[str, Any]) -> str:
    from sandbox.fleet.cwfindings import who_label

    paths = ", ".join(caller.get("paths") or [])
    return (
        f'<li><span class="n">{_e(caller.get("count"))}x</span> {_e(who_label(caller))}'
        + (f' <span class="dim">{_e(paths)}</span>' if paths else "")
        + f' <span class="dim">{_e(caller.get("first_seen"))} → {_e(caller.get("last_seen"))}'
        "</span></li>"
    )


def _profile_html(profile: Mapping[str, Any] | None) -> str:
    if not profile:
        return '<p class="dim">No profile: give --profile FILE, or enforce one (profile layer).</p>'
    parts = [f'<p class="dim">From {_e(profile["source"])}.']
    if profile.get("extends"):
        parts.append(f" Extends {_e(', '.join(profile['extends']))}.")
    parts.append("</p><div class='map'>")
    for category in profile["categories"]:
        rows = "".join(
            "<tr{cls}><td class='mark'>{mark}</td><td>{action}</td><td class='t'>{target}</td>"
            "<td>{phase}</td><td class='num'>{count}</td><td class='risk'>{risk}</td></tr>".format(
                cls=" class='risky'" if rule["risk"] else "",
                mark="!" if rule["risk"] else "",
                action=_e(rule["action"]),
                target=_e(rule["target"]),
                phase=_e(rule["phase"]),
                count=_e(rule["count"] if rule["count"] is not None else "-"),
                risk=_e(rule["risk"] or ""),
            )
            for rule in category["rules"]
        )
        parts.append(
            f"<section class='cat'><h4>{_e(category['name'])} "
            f"<span class='dim'>{len(category['rules'])} rules"
            + (f", <b class='warn'>{category['risky']} to review</b>" if category["risky"] else "")
            + "</span></h4><table class='rules'><thead><tr><th></th><th>action</th>"
            "<th>target</th><th>phase</th><th>seen</th><th>risk</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>"
        )
    parts.append("</div>")
    if profile.get("deny"):
        items = "".join(
            f"<li>{_e(d['category'])} {_e(d['action'])} {_e(d['target'])}"
            + (f" <span class='dim'>({_e(d['reason'])})</span>" if d.get("reason") else "")
            + "</li>"
            for d in profile["deny"]
        )
        parts.append(f"<h4>Denied explicitly</h4><ul>{items}</ul>")
    return "".join(parts)


def _findings_html(findings: Mapping[str, Any]) -> str:
    groups = findings.get("findings") or []
    if not groups:
        return "<p class='dim'>No findings in the window read.</p>"
    rows = []
    for group in groups:
        who = "".join(_who_cell(c) for c in group.get("who") or [])
        rows.append(
            "<tr class='{cls}'><td class='num'>{count}</td><td>{decision}</td>"
            "<td><b>{how}</b><div class='dim'>{rule}</div></td><td>{where}</td>"
            "<td><ul class='who'>{who}</ul></td><td>{first}<br>{last}</td></tr>".format(
                cls="blocked" if group.get("decision") == "blocked" else "other",
                count=_e(group.get("count")),
                decision=_e(group.get("decision")),
                how=_e(f"{group.get('category')} {group.get('action')} {group.get('target')}"),
                rule=_e(group.get("rule") or ""),
                where=_e(", ".join(group.get("sites") or []) or "-")
                + f"<div class='dim'>{_e(', '.join(group.get('phases') or []))}, "
                f"{_e(group.get('invocations'))} invocations</div>",
                who=who or "<li class='dim'>unknown caller</li>",
                first=_e(group.get("first_seen")),
                last=_e(group.get("last_seen")),
            )
        )
    return (
        "<table class='findings'><thead><tr><th>count</th><th>decision</th><th>how</th>"
        "<th>where</th><th>who</th><th>first / last seen</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _function_html(index: int, report: Mapping[str, Any]) -> str:
    findings = report.get("findings") or {}
    state = report.get("state") or {}
    profile = report.get("profile") or {}
    learning = profile.get("learning") or {}
    facts = [
        ("mode", state.get("mode") or ("-" if state else "(from log files)")),
        ("sandbox layer", state.get("sandbox_layer") or "-"),
        ("profile layer", state.get("profile_layer") or "-"),
        ("rules", sum(len(c["rules"]) for c in profile.get("categories", []))),
        ("to review", sum(c["risky"] for c in profile.get("categories", []))),
        ("invocations learned", learning.get("invocations", "-")),
        ("quiet invocations", learning.get("invocations_since_novel", "-")),
        (
            "findings",
            f"{findings.get('distinct', 0)} distinct, {findings.get('occurrences', 0)} in all",
        ),
    ]
    cards = "".join(
        f"<div class='card'><div class='k'>{_e(k)}</div><div class='v'>{_e(v)}</div></div>"
        for k, v in facts
    )
    note = ""
    if state.get("profile_error"):
        note = f"<p class='warn'>{_e(state['profile_error'])}</p>"
    curve_note = (
        f"{len(report.get('curve') or [])} points from {report.get('observations', 0)} distinct "
        "observations"
    )
    return f"""
<section class="function" id="fn-{index}" data-function="{_e(report["function"])}">
<h2>{_e(report["function"])}</h2>
<div class="cards">{cards}</div>{note}
<div class="charts">
<figure><figcaption>Learning curve: new observations per invocation (bars), distinct in all
(line). <span class="dim">{_e(curve_note)}</span></figcaption>
<svg class="chart" data-chart="curve" data-index="{index}" viewBox="0 0 640 260"
 role="img" aria-label="learning curve"></svg></figure>
<figure><figcaption>Findings over time: blocked (red), would-block (amber).
<span class="dim">bucket {_e(report.get("buckets", {}).get("seconds"))} s</span></figcaption>
<svg class="chart" data-chart="findings" data-index="{index}" viewBox="0 0 640 260"
 role="img" aria-label="findings over time"></svg></figure>
</div>
<h3>Findings: who, where, how</h3>
{_findings_html(findings)}
<h3>Profile</h3>
{_profile_html(report.get("profile"))}
</section>"""


_CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
margin:0;color:#1d232b;background:#f4f6f8}header{background:#1d232b;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#aab4bf}
main{padding:8px 28px 40px}.function{background:#fff;border-radius:8px;padding:16px 22px;
margin:18px 0;box-shadow:0 1px 3px #0002}h2{margin:4px 0 12px}h3{margin:22px 0 8px}
h4{margin:12px 0 6px}.cards{display:flex;flex-wrap:wrap;gap:8px}.card{background:#eef2f6;
border-radius:6px;padding:6px 12px;min-width:120px}.card .k{font-size:11px;color:#5c6773;
text-transform:uppercase}.card .v{font-weight:600}.charts{display:grid;
grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;margin-top:14px}
figure{margin:0;background:#fafbfc;border:1px solid #e3e7eb;border-radius:6px;padding:8px}
figcaption{font-size:12px;margin-bottom:4px}svg.chart{width:100%;height:auto;display:block}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;
border-bottom:1px solid #e6e9ec;vertical-align:top}th{font-size:11px;color:#5c6773;
text-transform:uppercase}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.t{font-family:ui-monospace,monospace;word-break:break-all}tr.blocked td:first-child{
border-left:3px solid #c62828}tr.other td:first-child{border-left:3px solid #f9a825}
ul.who{margin:0;padding-left:16px}.dim{color:#6b7580;font-size:12px}.warn{color:#b26a00}
.map{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px}
.cat{border:1px solid #e3e7eb;border-radius:6px;padding:4px 10px}tr.risky td{
background:#fff6e0}td.mark{color:#c62828;font-weight:700;width:12px}td.risk{color:#b26a00}
.axis text{font-size:10px;fill:#5c6773}.axis line,.axis path{stroke:#9aa5b1}
"""

_JS = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var W = 640, H = 260, M = {l: 44, r: 48, t: 20, b: 36};
  function el(parent, name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    parent.appendChild(node);
    return node;
  }
  function niceMax(v) {
    if (v <= 4) { return 4; }  // counts: whole-number ticks
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    var nice = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
    return nice % 4 === 0 ? nice : Math.ceil(nice / 4) * 4;  // whole-number ticks
  }
  function yAxis(svg, max, right, label) {
    var g = el(svg, "g", {"class": "axis"}), x = right ? W - M.r : M.l;
    el(g, "line", {x1: x, x2: x, y1: M.t, y2: H - M.b});
    for (var i = 0; i <= 4; i++) {
      var v = max * i / 4, y = H - M.b - (H - M.t - M.b) * i / 4;
      el(g, "line", {x1: x, x2: x + (right ? 4 : -4), y1: y, y2: y});
      el(g, "text", {x: x + (right ? 7 : -7), y: y + 3,
        "text-anchor": right ? "start" : "end"}, String(Math.round(v * 10) / 10));
    }
    el(g, "text", {x: right ? W - 4 : 4, y: M.t - 8, "text-anchor": right ? "end" : "start"},
      label);
  }
  function xAxis(svg, labels) {
    var g = el(svg, "g", {"class": "axis"});
    el(g, "line", {x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b});
    labels.forEach(function (l) {
      el(g, "text", {x: l[0], y: H - M.b + 14, "text-anchor": "middle"}, l[1]);
    });
  }
  function empty(svg, text) {
    el(svg, "text", {x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#6b7580"}, text);
  }
  function curve(svg, points) {
    if (!points.length) { empty(svg, "no invocation records read"); return 0; }
    var n = points.length, iw = (W - M.l - M.r) / n, ih = H - M.t - M.b;
    var maxNovel = niceMax(Math.max.apply(null, points.map(function (p) { return p.novel; })));
    var maxTotal = niceMax(points[n - 1].total);
    yAxis(svg, maxNovel, false, "new");
    yAxis(svg, maxTotal, true, "distinct");
    var bars = el(svg, "g", {"class": "bars"}), line = [];
    points.forEach(function (p, i) {
      var h = ih * p.novel / maxNovel, x = M.l + i * iw;
      var r = el(bars, "rect", {x: x + iw * 0.1, y: H - M.b - h, width: Math.max(iw * 0.8, 0.5),
        height: h, fill: "#4f7cac", "class": "bar"});
      el(r, "title", {}, "invocation " + p.invocation + ": " + p.novel + " new (" + p.time + ")");
      line.push((x + iw / 2).toFixed(1) + "," + (H - M.b - ih * p.total / maxTotal).toFixed(1));
    });
    el(svg, "polyline", {points: line.join(" "), fill: "none", stroke: "#1d232b",
      "stroke-width": 1.5, "class": "total"});
    var ticks = [];
    for (var k = 0; k < 5; k++) {
      var i = Math.min(n - 1, Math.round((n - 1) * k / 4));
      ticks.push([M.l + i * iw + iw / 2, "#" + points[i].invocation]);
    }
    xAxis(svg, ticks);
    return n;
  }
  function findings(svg, b) {
    var buckets = b.buckets;
    if (!buckets.length) { empty(svg, "no findings"); return 0; }
    var n = buckets.length, iw = (W - M.l - M.r) / n, ih = H - M.t - M.b;
    var max = niceMax(Math.max.apply(null, buckets.map(function (x) {
      return x.blocked + x.other; })));
    yAxis(svg, max, false, "occurrences");
    var g = el(svg, "g", {"class": "bars"});
    buckets.forEach(function (x, i) {
      var hb = ih * x.blocked / max, ho = ih * x.other / max, left = M.l + i * iw + iw * 0.1;
      var w = Math.max(iw * 0.8, 0.5);
      var rb = el(g, "rect", {x: left, y: H - M.b - hb, width: w, height: hb, fill: "#c62828",
        "class": "bar"});
      el(rb, "title", {}, x.start + ": " + x.blocked + " blocked");
      var ro = el(g, "rect", {x: left, y: H - M.b - hb - ho, width: w, height: ho,
        fill: "#f9a825", "class": "bar"});
      el(ro, "title", {}, x.start + ": " + x.other + " would-block");
    });
    var ticks = [];
    [0, Math.floor((n - 1) / 2), n - 1].forEach(function (i) {
      ticks.push([M.l + i * iw + iw / 2, buckets[i].start.replace("T", " ").slice(5, 16)]);
    });
    xAxis(svg, ticks);
    return n;
  }
  var charts = document.querySelectorAll("svg.chart");
  Array.prototype.forEach.call(charts, function (svg) {
    var report = data.functions[Number(svg.getAttribute("data-index"))];
    var drawn = svg.getAttribute("data-chart") === "curve" ?
      curve(svg, report.curve) : findings(svg, report.buckets);
    svg.setAttribute("data-points", String(drawn));
    svg.setAttribute("data-rendered", "true");
  });
  document.body.setAttribute("data-charts", String(charts.length));
})();
"""


def _json_for_script(value: Any) -> str:
    # Inside <script>, "</" would end the element: escape it (and "<!--") in the JSON text.
    return json.dumps(value, sort_keys=True).replace("</", "<\\/").replace("<!--", "<\\!--")


def render_html(reports: Sequence[Mapping[str, Any]], *, generated: str | None = None) -> str:
    """One self-contained page for the functions' reports (no external resource at all).

    Example
    -------
    >>> page = render_html([{"function": "f", "findings": {}, "curve": [],
    ...                      "buckets": {"seconds": 0, "buckets": []}}], generated="now")
    >>> "<svg" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    True
    """
    generated = generated or dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(str(r["function"]) for r in reports)
    sections = "".join(_function_html(i, r) for i, r in enumerate(reports))
    data = _json_for_script(
        {
            "functions": [
                {"curve": r.get("curve") or [], "buckets": r.get("buckets")} for r in reports
            ]
        }
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lambda-sandbox report: {_e(names)}</title>
<style>{_CSS}</style></head>
<body><header><h1>lambda-sandbox report</h1>
<p>{_e(names)} · generated {_e(generated)}</p></header>
<main>{sections}</main>
<script type="application/json" id="report-data">{data}</script>
<script>{_JS}</script>
</body></html>
"""
