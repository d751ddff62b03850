"""The human table of an ``unmapfuzz bench`` report (see :mod:`unmapfuzz.bench.measure`)."""
from __future__ import annotations

from .measure import SIZE_CLASSES

__all__ = ["render", "render_compare", "render_mutants", "bytes_text"]


def _num(x, fmt: str = "{:.0f}", none: str = "-") -> str:
    return none if x is None else fmt.format(x)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right if right is not None else set(range(1, len(header)))
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r):
        return "  ".join((str(c).rjust(w) if i in right else str(c).ljust(w))
                         for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return [fmt(header), "  ".join("-" * w for w in widths), *[fmt(r) for r in rows]]


def _ttff_cell(cell: dict | None, limit: float) -> str:
    if cell is None:
        return "-"
    m = cell["median"]
    head = f">{limit:g}s" if m is None else (f"{m:.2f}s" if m < 10 else f"{m:.1f}s")
    return f"{head} {cell['found']}/{cell['total']}"


def render(report: dict) -> str:
    """The human table of a :func:`run_bench` report."""
    m, st = report["machine"], report["settings"]
    n = len(st["seeds"])
    lines = [f"$ {report['command']}",
             f"date:     {report['date']}",
             f"machine:  nproc {m['nproc']}" + (f" (affinity {m['affinity']})" if m.get("affinity") not in
                                                 (None, m["nproc"]) else "")
             + (f", {m['cpu']}" if m.get("cpu") else "") + f", {m['system']}",
             f"software: {m['implementation']} {m['python']}, atheris {m.get('atheris')}, "
             f"hypothesis {m.get('hypothesis')}",
             f"load:     {_load(m.get('loadavg'))} at start, {_load(m.get('loadavg_end'))} at end "
             "(1/5/15-min load averages; the machine may be shared)",
             f"settings: {n} seed(s) {', '.join(map(str, st['seeds']))}; {st['programs']} programs and "
             f"{st['examples']} hypothesis examples per seed; atheris {_secs(st['atheris_seconds'], ' per seed')}; "
             f"time-to-first limit {_secs(st['ttff_seconds'])}; profile {st['profile']}, max {st['max_ops']} ops; "
             f"campaigns {_secs(st.get('campaign_seconds'), ' each')}; teardown "
             + ("skipped" if not st.get("teardown_mappings") else
                f"{st['teardown_mappings']} mappings, {st['teardown_repeats']} repeat(s)"),
             f"Every rate is the median over the {n} seed(s); wall time of the whole run: "
             f"{report.get('elapsed_seconds', '?')} s.",
             ""]

    # mix
    campaigns = report.get("campaigns")
    lines.append(f"Program mix, {st['profile']} profile, at most {st['max_ops']} ops: RandomSource's "
                 "(what check() and random are timed on), hypothesis's"
                 + (" and the inputs real campaigns kept" if campaigns else "") + ", all seeds pooled")
    mix_rows = [_mix_row(f"RandomSource, {_pair(row)}", row) for row in report["check"]]
    hyp = report["hypothesis"]
    if hyp and hyp.get("mix"):
        mix_rows.append(_mix_row(f"hypothesis programs(), {hyp['platform']}/{hyp['mode']}", hyp))
    for row in (campaigns or {}).get("rows", []):
        if row["check"].get("programs"):
            mix_rows.append(_mix_row(f"campaign corpus, {row['platform']}/{row['mode']}", row["check"]))
    lines += _table(["programs", "ops/prog", "maps", "unmaps", "1 page", "<=pmd", ">pmd", "whole",
                     "w/ finding", "invalid"], mix_rows)
    lines.append("Unmap sizes as a share of unmaps: one page; more, up to a pmd block; bigger; [0, space) "
                 "teardown.  w/ finding: programs with at least one signature.")
    lines.append("")

    # throughput
    lines.append(f"Throughput, executions per second (median over {n} seed(s))")
    rows = []
    for row in report["check"]:
        rows.append([_pair(row), _num(row["checks_per_second"]), _num(row["random_per_second"])])
    lines += _table(["platform/mode", "check()", "random: draw+check"], rows)
    ref = _reference_row(report)
    ref_rate = ref["checks_per_second"] if ref else None
    eng_rows = []
    if hyp:
        eng_rows.append([f"hypothesis: programs()+check, {hyp['platform']}/{hyp['mode']}",
                         _num(hyp["examples_per_second"]), _ratio(hyp["examples_per_second"], ref_rate),
                         f"check() {_pct(hyp['check_share'])} of the time"])
    ath = report["atheris"]
    if ath:
        eng_rows.append([f"atheris: libFuzzer average, {ath['platform']}/{ath['mode']}",
                         _num(ath["average_exec_per_sec"]), _ratio(ath["average_exec_per_sec"], ref_rate),
                         f"{_num(ath['executions'])} execs in {ath['seconds']:g} s, "
                         f"peak RSS {_num(ath['peak_rss_mb'])} MB"])
        eng_rows.append(["atheris: after start-up (status lines)", _num(ath["steady_exec_per_sec"]),
                         _ratio(ath["steady_exec_per_sec"], ref_rate), ""])
    if ref:
        eng_rows.insert(0, [f"random: draw+check, {_pair(ref)}", _num(ref["random_per_second"]),
                            _ratio(ref["random_per_second"], ref_rate), "in-process, no harness"])
    lines.append("")
    lines += _table(["engine", "exec/s", "vs check()", "notes"], eng_rows, right={1, 2})
    if ath and ath.get("errors"):
        for e in ath["errors"]:
            lines.append(f"  atheris error: {e}")
    if ath:
        lines.append("atheris runs instrumented impls/ and records findings through the harness, one job, "
                     "empty corpus; its libFuzzer average includes start-up and is rounded to whole seconds.")
    lines.append("")

    # impl shares
    shares = ref["impl_share"] if ref else {}
    if shares:
        lines.append(f"check() time by part ({_pair(ref)}, separate pass): " +
                     ", ".join(f"{k} {_pct(v)}" for k, v in shares.items()))
        lines.append("")

    if campaigns:
        lines += _campaign_lines(report, campaigns)
        lines.append("")
    teardown = report.get("teardown")
    if teardown:
        lines += _teardown_lines(teardown)
        lines.append("")

    # ttff
    tt = report.get("ttff")
    if tt:
        limit = tt["limit_seconds"]
        engines = st["engines"]
        lines.append(f"Time to first finding: seconds from campaign start (1 job, empty corpus, no minimising) to "
                     f"the bucket's first_seen; median over {n} seed(s), then found/seeds; "
                     f">{limit:g}s: not found in at least half the seeds")
        for g in tt["groups"]:
            lines.append("")
            files = sorted({f for t in g["targets"] for f in t["files"]})
            lines.append(f"{g['platform']} {g['mode']} {g['profile']}  (from {', '.join(files)})")
            rows = [[t["signature"], *[_ttff_cell(t["engines"].get(e), limit) for e in engines]]
                    for t in g["targets"]]
            stats = [g["engines"].get(e, {}) for e in engines]
            rows.append(["  campaign executions, median", *[_num(x.get("executions")) for x in stats]])
            rows.append(["  campaign seconds, median", *[_num(x.get("elapsed"), "{:.1f}") for x in stats]])
            rows.append(["  other buckets, all seeds", *[str(len(x.get("other_buckets", []))) for x in stats]])
            lines += _table(["target", *engines], rows)
    elif tt is None:
        lines.append("Time to first finding: skipped (--skip-ttff)")
    return "\n".join(lines)


def _campaign_lines(report: dict, campaigns: dict) -> list[str]:
    rows, errors = [], []
    for row in campaigns["rows"]:
        chk = row["check"]
        generator = _generator_rate(report, row["platform"], row["mode"])
        rows.append([f"{row['platform']}/{row['mode']}", _num(row["jobs"]), _num(row["exec_per_second"]),
                     _num(row["per_job"]), _pct(row["repeat_share"]), _num(chk.get("checks_per_second")),
                     _num(generator), _ratio(chk.get("checks_per_second"), generator),
                     f"{_num(chk.get('programs'))} of {_num(chk.get('inputs'))}, "
                     f"{_num(chk.get('mean_input_bytes'), '{:.0f}')} B"])
        errors += [f"{row['platform']}/{row['mode']}: {e}" for e in row["errors"]]
    commands = [row["command"] for row in campaigns["rows"]]
    lines = [f"Real atheris campaigns, {campaigns['seconds']:g} s each, seeded from corpus/ (medians over seeds); "
             f"e.g. {commands[0]}" + (f"; all pairs: {commands[-1]}" if len(commands) > 1 else "")]
    lines += _table(["campaign", "jobs", "exec/s", "per job", "repeats", "check() inputs", "check() mix",
                     "inputs/mix", "inputs timed, mean size"], rows)
    lines.append("exec/s: the campaign's summary.json (executions over its elapsed time, start-up included); "
                 "repeats: executions the harness answered from its memo of recent programs (not checked again); "
                 "check() inputs: check() in-process on the programs its corpus holds (libFuzzer's inputs and "
                 "the seeds), next to check() on the generator's mix (the throughput table above).")
    lines += [f"  campaign error: {e}" for e in errors]
    return lines


def _generator_rate(report: dict, platform: str, mode: str) -> float | None:
    """check() on the generator's mix for the pair, or the pooled row for a campaign over several pairs."""
    several = "all" in (platform, mode)
    for row in report["check"]:
        if (row["platform"], row["mode"]) == (platform, mode) or (several and row.get("pooled")):
            return row["checks_per_second"]
    return None


def _teardown_lines(teardown: dict) -> list[str]:
    rows = []
    for row in teardown["rows"]:
        rows.append([f"{row['platform']}/{row['mode']}", bytes_text(row["space"]), str(row["mappings"]),
                     _dur(row["seconds"]), _dur(row["maps_seconds"]),
                     _dur(row["unmap_seconds"]), _dur(row["slow_seconds"]),
                     _num(row["slow_ratio"], "x{:.1f}"),
                     ", ".join(sorted({sig.split("/", 1)[0] for sig in row["signatures"]})) or "none"])
    lines = [f"Teardown: {teardown['mappings']} maps spread over the whole space (stage 2: pages and pmd blocks "
             "alternately; hyp: pages), then one unmap of all of it; seconds of check() "
             f"(median of {teardown['repeats']})"]
    lines += _table(["platform/mode", "space", "maps", "check()", "maps only", "unmap", "fast paths off",
                     "slower", "findings by"], rows, right={1, 2, 3, 4, 5, 6, 7})
    lines.append("maps only: the same program without its unmap; unmap: the difference.  fast paths off: "
                 "check(fast=False, lockstep=False), the same verdict.  findings by: whose signatures the "
                 "verdict shows (a whole-space teardown reaches documented divergences; the time is the figure).")
    return lines


def render_compare(rows: list[dict], before: dict, after: dict) -> str:
    """The rows of :func:`unmapfuzz.bench.compare.compare` as a Markdown table, with both commands."""
    lines = [f"Before: `{before.get('command', '?')}` ({before.get('date', '?')})",
             f"After:  `{after.get('command', '?')}` ({after.get('date', '?')})",
             "",
             "| figure | before | after | speed-up |",
             "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {_value(r['before'], r['unit'])} | {_value(r['after'], r['unit'])} | "
                     f"{_num(r['speedup'], 'x{:.2f}')} |")
    lines += ["", "Medians of each report; rates in executions per second, durations in seconds; speed-up: "
              "above 1 is faster (the rate's ratio after/before, the duration's before/after)."]
    return "\n".join(lines)


def _value(x, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "s":
        return _dur(x, " ")
    return f"{x:.0f}/s" if x >= 10 else f"{x:.2f}/s"


def _dur(x, space: str = "") -> str:
    """Seconds with three significant digits or so: ``12.3s``, ``1.23s``, ``0.012s``."""
    if x is None:
        return "-"
    return f"{x:.1f}{space}s" if x >= 10 else f"{x:.2f}{space}s" if x >= 0.1 else f"{x:.3f}{space}s"


def bytes_text(n: int) -> str:
    """``n`` bytes in the largest binary unit it fills: ``1 TB``, ``4 GB``, ``256 TB``."""
    for unit, shift in (("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} B"


def _mix_row(label: str, row: dict) -> list[str]:
    mx = row["mix"]
    progs = mx.get("programs", 0) or 1
    unmaps = mx.get("unmaps", 0)
    return [label, f"{mx.get('ops', 0) / progs:.2f}", f"{mx.get('maps', 0) / progs:.2f}", f"{unmaps / progs:.2f}",
            *[_pct(mx.get("unmap_" + c, 0) / unmaps if unmaps else None) for c in SIZE_CLASSES],
            _pct(row["with_findings"]), _pct(row["invalid"])]


def _reference_row(report: dict) -> dict | None:
    """The check row the engines are compared with: the single pair, or the pooled 'all' row."""
    rows = report["check"]
    if not rows:
        return None
    return rows[-1]


def _pair(row: dict) -> str:
    return "all (uniform mix)" if row.get("pooled") else f"{row['platform']}/{row['mode']}"


def _ratio(x, ref) -> str:
    return "-" if not x or not ref else f"x{x / ref:.2f}"


def _secs(x, suffix: str = "") -> str:
    return "skipped" if x is None else f"{x:g} s{suffix}"


def _load(x) -> str:
    return "?" if not x else "/".join(f"{v:.2f}" for v in x)


def render_mutants(report: dict) -> str:
    """The human table of a :func:`unmapfuzz.bench.mutant_bench.run_mutant_bench` report."""
    m, st, tot = report["machine"], report["settings"], report["totals"]
    runs = f", --runs {st['runs']} per worker" if st.get("runs") else ""
    lines = [f"$ {report['command']}",
             f"date:     {report['date']}",
             f"machine:  nproc {m['nproc']}" + (f", {m['cpu']}" if m.get("cpu") else "") + f", {m['system']}",
             f"software: {m['implementation']} {m['python']}, atheris {m.get('atheris')}",
             f"load:     {_load(m.get('loadavg'))} at start, {_load(m.get('loadavg_end'))} at end "
             "(1/5/15-min load averages; the machine may be shared)",
             f"settings: one `unmapfuzz fuzz --impl NAME=MUTANT` campaign each: {st['engine']}, "
             f"{st['seconds']:g} s, {st['jobs']} job(s), seed {st['seed']}{runs}, every platform and mode, "
             f"{st['profile']} profile; wall time {report.get('elapsed_seconds', '?')} s",
             f"A mutant is flagged when it has a new bucket the unmodified copy (v3-copy) does not have; "
             f"the copy's own: {', '.join(st['control_news'])} (v3's 3.16 bug against the baseline "
             "v3-pgdnone).  first: seconds from the campaign's start to that bucket's first_seen.",
             ""]
    rows = []
    for r in report["rows"]:
        if r.get("error"):
            rows.append([r["name"], r["category"], r["expected"], "error", "-", _exit(r), "-", r["error"]])
            continue
        news = r["news"] if not r["control"] else r["new"]
        shown = ", ".join(_short(s) for s in news[:2]) + (f" +{len(news) - 2} more" if len(news) > 2 else "")
        first = r["first_news_seconds"] if not r["control"] else r["first_new_seconds"]
        rows.append([r["name"], r["category"], r["expected"], "yes" if r["flagged"] else "no",
                     _num(first, "{:.1f}s"), _exit(r), _num(r["executions"]), shown or "-"])
    lines += _table(["mutant", "bug", "expected", "flagged", "first", "exit", "execs", "its new signatures"],
                    rows, right={4, 5, 6})
    lines.append("")
    lines.append(f"{tot['flagged']} of {tot['in_reach']} mutants in reach of {st['profile']} programs flagged new"
                 + (f"; missed: {', '.join(tot['missed'])}" if tot["missed"] else "")
                 + f"; first new bucket after {_num(tot['median_first_seconds'], '{:.1f}')} s (median), "
                 f"{_num(tot['max_first_seconds'], '{:.1f}')} s (slowest).")
    if tot["out_of_reach"]:
        lines.append(f"Out of reach of {st['profile']} programs (a pud block): {', '.join(tot['out_of_reach'])}; "
                     f"flagged anyway: {', '.join(tot['out_of_reach_flagged']) or 'none'}.")
    if tot["equivalent"]:
        lines.append(f"Equivalent edits flagged: {', '.join(tot['equivalent_flagged']) or 'none'} "
                     f"(of {tot['equivalent']}).")
    if tot.get("control_unexpected"):
        lines.append(f"WARNING: the unmodified copy showed new buckets beyond v3's own: "
                     f"{', '.join(tot['control_unexpected'])}; every mutant's figure above discounts only v3's own.")
    for e in tot["errors"]:
        lines.append(f"  error: {e}")
    return "\n".join(lines)


def _short(signature: str) -> str:
    """A signature without its implementation: KIND/PLATFORM/MODE/LEVEL."""
    return signature.split("/", 1)[1]


def _exit(row: dict) -> str:
    return "-" if row.get("exit") is None else str(row["exit"])
