"""The benchmarks' results and report: figures per side, ratios, targets, Markdown or JSON.

A ``Table`` holds results that have the same sides; every figure is printed
with its ratio to the table's ceiling (usually raw psycopg), and each target
of a result with its verdict, PASS or BELOW. A ``Report`` prints its tables
after the facts of the machine and the server, and the plan that bounded the
run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

SERVER_SETTINGS = (
    "server_version",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "full_page_writes",
    "wal_compression",
    "commit_delay",
    "shared_buffers",
    "max_wal_size",
    "jit",
)


@dataclass(frozen=True, slots=True)
class Target:
    """``subject / versus`` must reach ``ratio`` (or, with ``at_most``, stay at or below it)."""

    versus: str
    ratio: float
    at_most: bool = False

    def met(self, value: float) -> bool:
        return value <= self.ratio if self.at_most else value >= self.ratio

    def describe(self, value: float | None) -> str:
        sign = "<=" if self.at_most else ">="
        if value is None:
            return f"{sign} {self.ratio:.2f}x {self.versus}: not measured"
        verdict = "PASS" if self.met(value) else "BELOW"
        # Rounded towards the verdict, so that 0.598 reads 0.59 BELOW, not 0.60 BELOW.
        shown = math.floor(value * 100) / 100 if not self.at_most else math.ceil(value * 100) / 100
        return f"{shown:.2f}x {self.versus} (target {sign} {self.ratio:.2f}) {verdict}"


@dataclass(frozen=True, slots=True)
class Result:
    """One workload's best figure per side (None: that side did not run), and its targets."""

    workload: str
    values: Mapping[str, float | None]
    subject: str = "ours"
    targets: tuple[Target, ...] = ()
    note: str = ""

    def ratio(self, side: str, versus: str) -> float | None:
        value, base = self.values.get(side), self.values.get(versus)
        if value is None or not base:
            return None
        return value / base

    def verdicts(self) -> list[str]:
        return [t.describe(self.ratio(self.subject, t.versus)) for t in self.targets]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "values": {k: None if v is None else round(v, 3) for k, v in self.values.items()},
            "subject": self.subject,
            "targets": [
                {
                    "versus": t.versus,
                    "ratio": t.ratio,
                    "at_most": t.at_most,
                    "measured": _rounded(self.ratio(self.subject, t.versus)),
                    "met": None if (m := self.ratio(self.subject, t.versus)) is None else t.met(m),
                }
                for t in self.targets
            ],
            "note": self.note,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True, slots=True)
class Table:
    """Results with the same sides; every figure is printed with its ratio to ``ceiling``."""

    title: str
    sides: Sequence[str]
    ceiling: str
    unit: str = "events/s"
    results: list[Result] = field(default_factory=list)
    decimals: int = 0

    def markdown(self) -> str:
        header = [self.title, *(f"{side} ({self.unit})" for side in self.sides), "targets"]
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(self.sides) + "---|"]
        for result in self.results:
            cells = [result.workload, *(self._cell(result, side) for side in self.sides)]
            cells.append("; ".join(result.verdicts()) or result.note)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _cell(self, result: Result, side: str) -> str:
        value = result.values.get(side)
        if value is None:
            return "-"
        text = f"{value:,.{self.decimals}f}"
        ratio = result.ratio(side, self.ceiling)
        if side == self.ceiling or ratio is None:
            return text
        return f"{text} ({ratio:.2f}x)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "sides": list(self.sides),
            "ceiling": self.ceiling,
            "unit": self.unit,
            "results": [result.as_dict() for result in self.results],
        }


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a run measured, with the facts needed to read it."""

    facts: Mapping[str, Any]
    plan: Any
    tables: Sequence[Table]
    notes: Sequence[str] = ()
    sections: Sequence[str] = ()
    """More Markdown, after the tables: what a script reports in another shape."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More JSON, beside the tables."""

    def markdown(self) -> str:
        facts = self.facts
        settings = ", ".join(
            f"{name}={facts[name]}" for name in SERVER_SETTINGS[1:] if name in facts
        )
        extra = [f"{k}: {v}" for k, v in facts.items() if k not in _SHOWN_FACTS]
        lines = [
            f"PostgreSQL {facts.get('postgres')}; {settings}",
            f"machine: {facts.get('cores')} cores, load average {facts.get('load')}; "
            f"Python {facts.get('python')}, psycopg {facts.get('psycopg')}"
            + (f"; {'; '.join(extra)}" if extra else ""),
            f"plan: {plan_text(self.plan)}",
        ]
        for table in self.tables:
            lines += ["", table.markdown()]
        for section in self.sections:
            lines += ["", section]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(
            {
                "facts": dict(self.facts),
                "plan": plan_dict(self.plan),
                "tables": [table.as_dict() for table in self.tables],
                "notes": list(self.notes),
                **self.extra,
            },
            indent=2,
            default=str,
        )


_SHOWN_FACTS = {"postgres", "cores", "load", "python", "psycopg", *SERVER_SETTINGS}


def plan_dict(plan: Any) -> dict[str, Any]:
    return asdict(plan) if is_dataclass(plan) and not isinstance(plan, type) else {}


def plan_text(plan: Any) -> str:
    values = plan_dict(plan)
    return ", ".join(
        f"{key}={value:,}" if isinstance(value, int) else f"{key}={value}"
        for key, value in values.items()
    )
