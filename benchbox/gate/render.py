"""The table of ``benchbox check`` / ``compare``: plain text for the terminal, Markdown for a CI job summary
(e.g. ``$GITHUB_STEP_SUMMARY``). Both list every checked figure, also when nothing regressed."""

from __future__ import annotations

from benchbox.gate.compare import MARKS, CheckResult, Finding

__all__ = ["render_text", "render_markdown", "summary_line", "LEGEND"]

LEGEND = ("marks: x regression, ~ suspect (past the tolerance or factor, not confirmed by the test), "
          "+ improvement, N new model, ! missing model, ? not checked")
_HEADER = ("", "model", "target", "figure", "old", "new", "change", "p (worse)", "verdict / note")


def _number(value: float | None, figure: str) -> str:
    if value is None:
        return "-"
    if figure == "predict RTF":
        return f"{value:.3g}"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"


def _change(finding: Finding) -> str:
    change = finding.change
    if change is None:
        return "-"
    return f"{change:.2f}x" if finding.kind == "speed" else f"{change:+.4f}"


def _row(finding: Finding) -> tuple[str, ...]:
    verdict = finding.verdict + (f": {finding.note}" if finding.note else "")
    p = "-" if finding.p_value is None else f"{finding.p_value:.4f}"
    return (finding.mark, finding.model, finding.target or "-", finding.figure, _number(finding.old, finding.figure),
            _number(finding.new, finding.figure), _change(finding), p, verdict)


def summary_line(result: CheckResult, *, strict: bool, allow_missing: bool, warn_only: bool) -> str:
    if result.not_comparable:
        return "NOT COMPARABLE: " + "; ".join(result.not_comparable)
    counts = {verdict: sum(f.verdict == verdict for f in result.findings) for verdict in MARKS}
    score, speed = result.failures(strict=strict, allow_missing=allow_missing)
    verdict = "FAIL" if score or speed else "PASS"
    if warn_only and verdict == "FAIL":
        verdict = "FAIL (warn only: exit 0)"
    what = [f"{counts['regression']} regression(s)", f"{counts['suspect']} suspect",
            f"{counts['improved']} improvement(s)", f"{counts['missing']} missing", f"{counts['new']} new"]
    checked = sum(f.verdict not in ("untested", "new", "missing") for f in result.findings)
    return f"{verdict}: {checked} figures checked; " + ", ".join(what) + ("" if result.speed_checked
                                                                           else "; speed not checked")


def render_text(result: CheckResult, **flags) -> str:
    lines = [summary_line(result, **flags)]
    if result.not_comparable:
        return "\n".join(lines)
    rows = [_HEADER, *(_row(f) for f in result.findings)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER) - 1)]
    lines += ["", *("  ".join(cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(row))
                    .rstrip() for row in rows)]
    lines += ["", LEGEND, *result.notes, "thresholds from: " + ", ".join(result.thresholds.sources)]
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|") or " "


def render_markdown(result: CheckResult, *, title: str = "benchbox check", **flags) -> str:
    lines = [f"### {title}", "", f"**{summary_line(result, **flags)}**", ""]
    if result.not_comparable:
        return "\n".join(lines) + "\n"
    lines.append("| " + " | ".join(_md(h) for h in _HEADER) + " |")
    lines.append("|" + "|".join("---" for _ in _HEADER) + "|")
    lines += ["| " + " | ".join(_md(c) for c in _row(f)) + " |" for f in result.findings]
    lines += ["", LEGEND, ""] + [f"- {note}" for note in result.notes]
    lines.append(f"- thresholds from: {', '.join(result.thresholds.sources)}")
    return "\n".join(lines) + "\n"
