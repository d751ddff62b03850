"""Two ``unmapfuzz bench --json`` reports side by side: the before/after table of a change.

:func:`figures` reads the headline figures out of one report, each a median
already (a rate in executions per second, or a duration in seconds);
:func:`compare` pairs the figures of two reports by what they measure and
gives each pair its speed-up: the new rate over the old, or the old duration
over the new, so that above 1 is faster either way.  A figure only one
report has (an older report, other settings) is listed with a blank on the
other side, never left out.  :func:`unmapfuzz.bench.render.render_compare`
prints the result as a Markdown table.
"""
from __future__ import annotations

from dataclasses import dataclass

from .render import bytes_text

__all__ = ["Figure", "figures", "compare"]


@dataclass(frozen=True)
class Figure:
    label: str
    value: float | None
    unit: str            # "/s": a rate, higher is faster; "s": a duration, lower is faster


def figures(report: dict) -> dict[str, Figure]:
    """The report's figures by key, in the order the report shows them."""
    out: dict[str, Figure] = {}

    def add(key: str, label: str, value, unit: str = "/s") -> None:
        out[key] = Figure(label, None if value is None else float(value), unit)

    for row in report.get("check") or []:
        pair = "all (uniform mix)" if row.get("pooled") else f"{row['platform']}/{row['mode']}"
        add(f"check/{pair}", f"check(), generator's mix, {pair}", row.get("checks_per_second"))
    for row in report.get("check") or []:
        pair = "all (uniform mix)" if row.get("pooled") else f"{row['platform']}/{row['mode']}"
        add(f"random/{pair}", f"random: draw+check, {pair}", row.get("random_per_second"))
    hyp = report.get("hypothesis")
    if hyp:
        add("hypothesis", f"hypothesis: programs()+check, {hyp['platform']}/{hyp['mode']}",
            hyp.get("examples_per_second"))
    ath = report.get("atheris")
    if ath:
        add("atheris/average", f"atheris target, libFuzzer average, {ath['platform']}/{ath['mode']}",
            ath.get("average_exec_per_sec"))
        add("atheris/steady", f"atheris target, after start-up, {ath['platform']}/{ath['mode']}",
            ath.get("steady_exec_per_sec"))
    campaigns = report.get("campaigns")
    for row in (campaigns or {}).get("rows", []):
        pair = f"{row['platform']}/{row['mode']}"
        jobs = row.get("jobs")
        add(f"campaign/{pair}", f"atheris campaign, {pair}, {_jobs(jobs)}", row.get("exec_per_second"))
        if jobs and jobs != 1:
            add(f"campaign-per-job/{pair}", f"atheris campaign, {pair}, per job", row.get("per_job"))
        add(f"campaign-check/{pair}", f"check(), that campaign's inputs, {pair}",
            (row.get("check") or {}).get("checks_per_second"))
    teardown = report.get("teardown")
    for row in (teardown or {}).get("rows", []):
        pair = f"{row['platform']}/{row['mode']}"
        what = f"{row['mappings']} mappings, {bytes_text(row['space'])}"
        add(f"teardown/{pair}/{row['mappings']}", f"teardown check(), {pair}, {what}", row.get("seconds"), "s")
        add(f"teardown-slow/{pair}/{row['mappings']}", f"teardown check(), fast paths off, {pair}",
            row.get("slow_seconds"), "s")
    tt = report.get("ttff")
    for group in (tt or {}).get("groups", []):
        for target in group["targets"]:
            for engine, cell in target["engines"].items():
                add(f"ttff/{engine}/{target['signature']}", f"first {target['signature']}, {engine}",
                    cell.get("median"), "s")
    return out


def compare(before: dict, after: dict) -> list[dict]:
    """One row per figure of either report: ``label``, ``unit``, ``before``, ``after``, ``speedup``.

    The rows follow ``after``'s order, then the figures only ``before`` has.
    ``speedup`` is None when either side is missing or zero.
    """
    old, new = figures(before), figures(after)
    rows = []
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        fig = b or a
        x, y = (a.value if a else None), (b.value if b else None)
        speedup = None
        if x and y:
            speedup = y / x if fig.unit == "/s" else x / y
        rows.append({"key": key, "label": fig.label, "unit": fig.unit, "before": x, "after": y,
                     "speedup": speedup})
    return rows


def _jobs(jobs) -> str:
    return "default jobs" if not jobs else f"{jobs} job" + ("s" if jobs != 1 else "")

