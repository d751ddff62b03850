"""A campaign directory as one self-contained HTML page: is this campaign worth continuing?

``unmapfuzz report OUT -o report.html`` (and every campaign, at its end,
into ``OUT/report.html``) reads ``summary.json``, ``log.jsonl`` and the
buckets, and writes a page that needs no network to view: plotly.js is
inlined.  Top to bottom, in the order a person decides:

1. the verdict in one line (new findings or none), and the numbers:
   executions, time, rate, coverage, buckets, and how long ago the last new
   bucket appeared (a campaign that stopped finding things has saturated);
2. plots over wall-clock time from the log's ``progress`` events, one line
   per campaign run (a merged directory holds several): executions and
   libFuzzer coverage; and the buckets found so far, from each bucket's
   ``first_seen``, all of them and the new ones;
3. the matrix of implementation x platform/mode with the kinds found in
   each cell (new ones in red);
4. where the time went, by platform/mode: programs judged, repeats, seconds
   and rate (a geometry that takes most of the time starves the others);
5. the buckets, new first: signature, count, first seen, the explanation in
   kernel terms and the minimised reproducer;
6. the configuration of each campaign.
"""
from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

from unmapfuzz.atomic import atomic_write

from .merge import bucket_is_known
from .runs import geometry_rows
from .store import read_buckets

__all__ = ["ReportError", "report_data", "render", "write_report"]


class ReportError(ValueError):
    """The directory cannot be reported on; ``str()`` says ``PATH: why``."""


# -- reading the campaign ------------------------------------------------------------------

def _events(out: Path) -> list[dict]:
    events = []
    try:
        with open(out / "log.jsonl", encoding="utf-8", errors="replace") as f:
            for raw in f:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue            # a line a killed writer cut short
                if isinstance(event, dict) and "timestamp" in event:
                    events.append(event)
    except FileNotFoundError:
        pass
    return events


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _runs(events: list[dict]) -> dict[tuple, dict]:
    """One entry per campaign run (its ``campaign`` tag and the campaign process's pid):
    a label and its progress points."""
    runs: dict[tuple, dict] = {}
    for e in events:
        key = (e.get("campaign", ""), e.get("pid"))
        if e.get("event") == "start":
            run = runs.setdefault(key, {"points": []})
            run["label"] = (f"{e.get('engine', '?')} {e.get('platform', '?')}/{e.get('mode', '?')} "
                            f"{e.get('profile', '')} seed {e.get('seed', '?')}").strip()
            if e.get("campaign"):
                run["label"] += f" [{e['campaign'][:6]}]"
        elif e.get("event") == "progress":
            runs.setdefault(key, {"points": []})["points"].append(e)
    for key, run in runs.items():
        run.setdefault("label", f"campaign {key[0][:6] or key[1]}")
    return {k: r for k, r in runs.items() if r["points"]}


def _explanation(bucket: dict) -> str:
    """The kernel-terms line of the bucket's reproducer, or what its first program showed."""
    path = bucket.get("minimized")
    if path:
        lines = [line[1:].strip() for line in Path(path).read_text().splitlines() if line.startswith("#")]
        for i, line in enumerate(lines):
            if line.startswith("signature:") and i + 1 < len(lines) and not lines[i + 1].startswith("replay:"):
                return lines[i + 1]
    return _recorded_explanation(bucket)


def _recorded_explanation(bucket: dict) -> str:
    """What the bucket's ``meta.json`` recorded of its first program's finding.  Read, never
    worked out again: that would run the implementations (a user's may kill the process)."""
    try:
        meta = json.loads((Path(bucket["program"]).parent / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        return f"(no explanation: {exc})"
    if meta.get("died"):
        return meta["died"]
    for f in (meta.get("verdict") or {}).get("findings", []):
        if (f.get("impl"), f.get("kind"), f.get("level")) == (bucket["impl"], bucket["kind"], bucket["level"]):
            return f"op {f.get('op')} at IPA {f.get('ipa')}: {f.get('detail')}"
    return "(no explanation recorded)"


def report_data(out: Path) -> dict:
    """Everything the page shows, as plain data (what the tests check, and :func:`render` draws)."""
    out = Path(out)
    summary_path = out / "summary.json"
    if not out.is_dir():
        raise ReportError(f"{out}: no such campaign directory")
    try:
        summary = json.loads(summary_path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{summary_path}: missing: is {out} a campaign directory?") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{summary_path}: unreadable: {exc}") from None
    known, new = set(summary.get("known", [])), set(summary.get("new", []))
    buckets = read_buckets(out)
    for b in buckets:
        # A bucket newer than the summary (a campaign still running) is judged here.
        b["known"] = b["signature"] in known or (b["signature"] not in new and bucket_is_known(b, None))
        b["explanation"] = _explanation(b)
        b["reproducer"] = Path(b["minimized"] or b["program"]).read_text()
    buckets.sort(key=lambda b: (b["known"], b.get("first_seen") or 0, b["signature"]))
    events = _events(out)
    campaigns = summary.get("campaigns") or [summary]
    return {"out": str(out), "summary": summary, "buckets": buckets, "runs": _runs(events),
            "campaigns": campaigns, "started": min((e["timestamp"] for e in events), default=None),
            "geometries": geometry_rows(summary.get("geometries"))}


# -- drawing -------------------------------------------------------------------------------------

_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _figure(data: dict):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=("Executions", "Coverage (libFuzzer cov: edges of impls/)",
                                        "Buckets found (distinct signatures)"))
    for i, run in enumerate(data["runs"].values()):
        color = _PALETTE[i % len(_PALETTE)]
        x = [_time(p["timestamp"]) for p in run["points"]]
        # A run shorter than a few progress ticks has a point or two: a line alone would not show it.
        mode = "lines" if len(x) >= 3 else "lines+markers"
        fig.add_trace(go.Scatter(x=x, y=[p.get("executions") for p in run["points"]], name=run["label"],
                                 legendgroup=run["label"], line={"color": color}, mode=mode,
                                 hovertemplate="%{y:,} executions<br>%{x}<extra>" + html.escape(run["label"])
                                               + "</extra>"), row=1, col=1)
        coverage = [p.get("coverage") or None for p in run["points"]]
        if any(coverage):
            fig.add_trace(go.Scatter(x=x, y=coverage, name=run["label"], legendgroup=run["label"],
                                     showlegend=False, line={"color": color}, mode=mode,
                                     hovertemplate="cov %{y}<br>%{x}<extra></extra>"), row=2, col=1)
    found = sorted((b for b in data["buckets"] if b.get("first_seen")), key=lambda b: b["first_seen"])
    ends = [p["timestamp"] for r in data["runs"].values() for p in r["points"]]
    end = _time(max(ends)) if ends else None
    for label, selected, color in (("all buckets", found, "#444444"),
                                   ("new buckets", [b for b in found if not b["known"]], "#d62728")):
        if not selected and label == "new buckets":
            continue
        x = [datetime.fromtimestamp(b["first_seen"], timezone.utc) for b in selected]
        y = list(range(1, len(selected) + 1))
        text = [b["signature"] for b in selected]
        if end is not None and end > x[-1]:      # carried on to the end: a flat tail is a saturated campaign
            x, y, text = x + [end], y + [y[-1]], text + ["(no new bucket since)"]
        fig.add_trace(go.Scatter(x=x, y=y, name=label, mode="lines+markers",
                                 line={"shape": "hv", "color": color}, marker={"size": 5},
                                 text=text, hovertemplate="%{text}<br>bucket %{y} at %{x}<extra></extra>"),
                      row=3, col=1)
    fig.update_layout(template="plotly_white", height=760, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.08}, hovermode="closest")
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=3, col=1)     # coverage: the range that shows its growth
    fig.update_xaxes(title_text="time (UTC)", row=3, col=1)
    return fig


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _headline(data: dict) -> tuple[str, str, list[tuple[str, str]]]:
    s = data["summary"]
    buckets = data["buckets"]
    new = [b for b in buckets if not b["known"]]
    if new:
        verdict, css = f"{len(new)} new finding{'s' if len(new) != 1 else ''}: not in corpus/known.txt", "bad"
    elif buckets:
        verdict, css = "No new findings: every bucket is a documented divergence", "good"
    else:
        verdict, css = "No findings", "good"
    firsts = [b["first_seen"] for b in buckets if b.get("first_seen")]
    ends = [_time(p["timestamp"]).timestamp() for r in data["runs"].values() for p in r["points"]]
    last = (f"{_ago(max(ends) - max(firsts))} before the end" if firsts and ends else "-")
    numbers = [("executions", f"{s.get('executions', 0):,}"),
               ("campaign time", _ago(s.get("elapsed_seconds") or 0)),
               ("exec/s", f"{s.get('exec_per_second', 0):,.0f}"),
               ("coverage", str(s.get("coverage") or "-")),
               ("buckets", f"{len(buckets)} ({len(new)} new)"),
               ("last bucket found", last)]
    return verdict, css, numbers


def _matrix(data: dict) -> str:
    from unmapfuzz.programs import MODES, PLATFORMS
    cells: dict[tuple, dict[str, bool]] = {}
    impls = []
    for b in data["buckets"]:
        if b["impl"] not in impls:
            impls.append(b["impl"])
        cell = cells.setdefault((b["impl"], b["platform"], b["mode"]), {})
        kind = f"{b['kind']} ({b['level']})"
        cell[kind] = cell.get(kind, False) or not b["known"]
    order = ["old", "v2", "v3", "v3-pgdnone"]
    impls.sort(key=lambda i: (order.index(i) if i in order else len(order), i))
    columns = [(p, m) for p in PLATFORMS for m in MODES]
    head = "".join(f"<th>{html.escape(p)}<br><span class=mode>{m}</span></th>" for p, m in columns)
    rows = []
    for impl in impls:
        tds = []
        for p, m in columns:
            kinds = cells.get((impl, p, m), {})
            chips = "".join(f'<span class="chip {"new" if is_new else "known"}">{html.escape(k)}</span>'
                            for k, is_new in sorted(kinds.items()))
            tds.append(f"<td>{chips}</td>")
        rows.append(f"<tr><th class=impl>{html.escape(impl)}</th>{''.join(tds)}</tr>")
    if not rows:
        return "<p>No findings.</p>"
    return f"<table class=matrix><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def _bucket_table(data: dict) -> str:
    rows = []
    for b in data["buckets"]:
        first = (datetime.fromtimestamp(b["first_seen"], timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                 if b.get("first_seen") else "-")
        tag = '<span class="chip known">known</span>' if b["known"] else '<span class="chip new">NEW</span>'
        which = "minimised reproducer" if b["minimized"] else "first program (not minimised yet)"
        rows.append(
            f"<tr class={'known' if b['known'] else 'new'}><td class=sig>{html.escape(b['signature'])}</td>"
            f"<td>{tag}</td><td class=num>{b['count']:,}</td><td class=when>{first}</td>"
            f"<td>{html.escape(b['explanation'])}<details><summary>{which}</summary>"
            f"<pre>{html.escape(b['reproducer'])}</pre></details></td></tr>")
    if not rows:
        return "<p>No buckets.</p>"
    return ("<table class=buckets><colgroup><col class=sig><col class=tag><col class=num><col class=when><col>"
            "</colgroup><tr><th>signature</th><th></th><th>count</th><th>first seen (UTC)</th>"
            "<th>what went wrong, in kernel terms</th></tr>" + "".join(rows) + "</table>")


def _geometry_table(data: dict) -> str:
    rows = []
    for r in data["geometries"]:
        programs, repeats = r.get("programs") or 0, r.get("repeats") or 0
        share = r["share"]
        rows.append(
            f"<tr><td class=sig>{html.escape(r['geometry'])}</td><td class=num>{programs:,}</td>"
            f"<td class=num>{repeats / programs if programs else 0:.0%}</td>"
            f"<td class=num>{r.get('seconds') or 0:,.1f}</td>"
            f"<td><div class=bar><span style=\"width:{share * 100:.1f}%\"></span></div>{share:.0%}</td>"
            f"<td class=num>{r.get('programs_per_second') or 0:,.0f}</td></tr>")
    if not rows:
        return "<p>Not recorded (a campaign from before unmapfuzz recorded it).</p>"
    return ("<table class=geometries><tr><th>platform / mode</th><th>programs</th><th>repeats</th>"
            "<th>seconds judging</th><th>share of the time</th><th>programs/s</th></tr>" + "".join(rows) +
            "</table><p class=sub>From the workers' harness: programs judged (repeats answered from its memo "
            "included) and the time spent judging them, without decoding an engine's input. A worker's last "
            "seconds may be missing, so the programs add up to a little less than the executions.</p>")


_CONFIG_KEYS = ("origin", "engine", "platform", "mode", "profile", "jobs", "seed", "executions",
                "exec_per_second", "coverage", "elapsed_seconds", "finished")


def _config_table(data: dict) -> str:
    campaigns = data["campaigns"]
    keys = [k for k in _CONFIG_KEYS if any(k in c for c in campaigns)]
    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c.get(k, '')))}</td>" for k in keys) + "</tr>"
                   for c in campaigns)
    return f"<table class=config><tr>{head}</tr>{rows}</table>"


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
main{max-width:1400px;margin:0 auto;padding:20px 28px}
h1{font-size:22px;margin:4px 0 2px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#666;margin-bottom:12px}
.verdict{font-size:20px;font-weight:600;padding:12px 16px;border-radius:6px;margin:10px 0}
.verdict.good{background:#e6f4ea;color:#1e6b34;border:1px solid #b7dfc2}
.verdict.bad{background:#fdecea;color:#a31515;border:1px solid #f3b8b3}
.numbers{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0 4px}
.numbers div{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:8px 14px;min-width:120px}
.numbers b{display:block;font-size:22px} .numbers span{color:#666;font-size:13px}
table{border-collapse:collapse;background:#fff;width:100%} td,th{border:1px solid #e2e2e2;padding:5px 7px;vertical-align:top;text-align:left}
th{background:#f3f3f3;font-weight:600} .mode{font-weight:400;color:#666}
.matrix{table-layout:fixed} .matrix th:first-child{width:90px} .matrix th.impl{white-space:nowrap}
.matrix .chip{white-space:normal;font-size:11.5px}
.chip{display:inline-block;border-radius:4px;padding:1px 6px;margin:1px 2px;font-size:12px;white-space:nowrap}
.chip.known{background:#eceff3;color:#3c4650} .chip.new{background:#d62728;color:#fff;font-weight:600}
.buckets{table-layout:fixed} .buckets col.sig{width:26%} .buckets col.tag{width:64px} .buckets col.num{width:80px}
.buckets col.when{width:170px}
.buckets td.sig{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;overflow-wrap:anywhere}
.buckets .num,.buckets .when{white-space:nowrap} .buckets tr.new td{background:#fff6f5}
pre{background:#f6f8fa;padding:8px;font-size:12.5px;margin:6px 0;white-space:pre-wrap;overflow-wrap:anywhere}
details summary{cursor:pointer;color:#1f5fa8;font-size:13px}
.geometries td.num{text-align:right;white-space:nowrap} .geometries td.sig{font-family:ui-monospace,Menlo,Consolas,monospace}
.bar{display:inline-block;width:160px;height:10px;background:#eceff3;margin-right:8px;vertical-align:middle}
.bar span{display:block;height:100%;background:#1f77b4}
"""


def render(data: dict) -> str:
    """The page, one string of HTML with plotly.js inlined."""
    from plotly.offline import get_plotlyjs
    verdict, css, numbers = _headline(data)
    s = data["summary"]
    what = (f"{len(data['campaigns'])} campaigns merged" if s.get("merged")
            else f"{s.get('engine', '?')} on {s.get('platform', '?')} / {s.get('mode', '?')}, "
                 f"{s.get('profile', '?')} programs, {s.get('jobs', '?')} job(s)")
    fig = _figure(data)
    plot = fig.to_html(full_html=False, include_plotlyjs=False, div_id="campaign-plots",
                       config={"displaylogo": False, "responsive": True})
    numbers_html = "".join(f"<div><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>" for k, v in numbers)
    title = f"unmapfuzz campaign: {Path(data['out']).name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style>
<script>{get_plotlyjs()}</script></head>
<body><main>
<h1>{html.escape(title)}</h1>
<div class=sub>{html.escape(what)}; {html.escape(data['out'])}{'' if s.get('finished') else ' (still running)'}</div>
<div class="verdict {css}" id=verdict>{html.escape(verdict)}</div>
<div class=numbers>{numbers_html}</div>
<h2>Over time</h2>
{plot}
<h2>Where: implementation &times; platform / mode</h2>
{_matrix(data)}
<h2>Where the time went: platform / mode</h2>
{_geometry_table(data)}
<h2>Buckets</h2>
{_bucket_table(data)}
<h2>Configuration</h2>
{_config_table(data)}
</main></body></html>
"""


def write_report(out: Path, dest: Path | None = None) -> Path:
    """Write the report of campaign directory ``out`` to ``dest`` (default ``out/report.html``)."""
    out = Path(out)
    dest = Path(dest) if dest is not None else out / "report.html"
    text = render(report_data(out))
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, text)
    return dest
