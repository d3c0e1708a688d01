"""What a section of `make bench` gets and gives back, and the targets table it prints.

A section is a module with `NAME` (a short title) and `run(context: BenchContext) ->
SectionResult`; `tests/bench/run.py` lists them in `SECTIONS` and runs each after the
PostgreSQL book is loaded (one bad section is reported and the others still run). A section
that measures one of issue 15's targets returns a `TargetFigure` for it: the printout shows
each with its figure, ratio or latency, goal, data size and load, under the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.bench.database import LenderKey, LoadResult
from tests.bench.server import Gunicorn
from tests.bench.settings import BenchSettings


@dataclass
class BenchContext:
    settings: BenchSettings
    database_url: str  # the loaded PostgreSQL book
    lenders: list[LenderKey]
    load: LoadResult
    workdir: Path  # a temporary folder, removed after the run
    output: Path  # bench-output/
    log: Callable[[str], None]
    # A gunicorn of the registry on the loaded book (`-c python:registry.gunicorn_config`).
    server: Callable[[int], AbstractContextManager[Gunicorn]]


@dataclass(frozen=True)
class TargetFigure:
    target: str  # e.g. "1. inquiry throughput vs /healthz"
    figure: str  # what was measured, in words and numbers
    goal: str  # e.g. ">= 0.70" or "p99 < 20 ms"
    met: bool | None  # None: not measured (skipped)
    data: str  # the data size it was measured on
    load: str  # the load conditions

    def row(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        return (
            f"| {self.target} | {self.figure} | {self.goal} | **{verdict}** | {self.data} | "
            f"{self.load} |"
        )


@dataclass
class SectionResult:
    figures: list[TargetFigure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # into results.json
    problems: list[str] = field(default_factory=list)  # make the run's exit status 1

    def to_json(self) -> dict[str, Any]:
        return {
            "figures": [asdict(f) for f in self.figures],
            "details": self.details,
            "problems": self.problems,
        }


class Section(Protocol):
    NAME: str

    def run(self, context: BenchContext) -> SectionResult: ...


def targets_table(figures: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[str]:
    lines = [
        "| target | figure | goal | result | data | load |",
        "|---|---|---|---|---|---|",
    ]
    lines += [TargetFigure(**figure).row() for figure in figures]
    return lines
