"""The benchmark's printed form: one Report per section, rendered as a fixed-width table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Report:
    title: str
    headline: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def ms(seconds: float) -> str:
    value = seconds * 1e3
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def times(x: float) -> str:
    return f"{x:.2f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width plain text: first column left-aligned, the others right-aligned."""
    filled = [headers, *(r for r in rows if r)]  # an empty row prints as a blank line
    widths = [max(len(str(r[i])) for r in filled) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) if r else "" for r in rows)])


def render(report: Report) -> str:
    lines = [report.title, "=" * len(report.title), report.headline, "",
             format_table(report.headers, report.rows)]
    lines += [""] + [f"  {note}" for note in report.notes] if report.notes else []
    return "\n".join(lines)


def verdict(value: float, target: float, at_least: bool) -> str:
    met = value >= target if at_least else value <= target
    return "MET" if met else "NOT MET"
