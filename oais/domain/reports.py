"""Evidence reports: the document every report is (CoreTrustSeal, NDSA, audit), whatever renders it.

A report is a list of sections; a section holds figures (one value each), tables, plots (series of
numbers drawn by the HTML renderer) and findings (what an assessor should look at). Everything in a
report is computed from the catalog and the storage event log when the report is made: nothing is
typed in. The JSON form of a report is canonical (:func:`canonical_json`), so that its sha256 names
it: the HTML states that digest, and the action log records it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: A value in a figure or a table cell.
Scalar = str | int | float | bool | None


class Level(StrEnum):
    """How a finding reads to an assessor."""

    OK = "ok"  # the requirement is met, as far as the records show
    WARNING = "warning"  # something to look at (a gap that is not yet a failure)
    PROBLEM = "problem"  # the records show the requirement is not met


class Figure(BaseModel):
    """One named value, e.g. ``copies_below_policy = 0``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str  # stable, machine-readable (snake_case)
    label: str  # for people
    value: Scalar
    unit: str | None = None  # "bytes", "%", "files"...


class Table(BaseModel):
    """A table: column headings and rows of scalars (each row as long as ``columns``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    title: str
    columns: list[str]
    rows: list[list[Scalar]]
    #: How many rows were left out (a table is cut at a limit; the figures still count every row).
    truncated: int = 0
    note: str | None = None


class Series(BaseModel):
    """One line or one set of bars of a plot: a label and one y value per x of the plot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    values: list[float]


class Plot(BaseModel):
    """A plot: x categories (dates as ISO text, format names...) and one or more series over them.

    ``kind``: ``line`` (values over time), ``bar`` (grouped bars), ``stacked`` (stacked bars) or
    ``barh`` (horizontal bars, for long category names such as formats).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    title: str
    kind: Literal["line", "bar", "stacked", "barh"]
    x_label: str
    y_label: str
    x: list[str]
    series: list[Series]


class Finding(BaseModel):
    """A conclusion drawn from the figures, e.g. 'copies of 3 AIP versions below the policy'."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Level
    text: str


class Section(BaseModel):
    """One part of a report: a CoreTrustSeal requirement (``R07``), an NDSA area, an audit topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str  # "R07", "storage", "fixity-failures": the HTML anchor too
    title: str
    #: What the section answers, in words (the requirement, or the question an auditor asks).
    summary: str
    figures: list[Figure] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    plots: list[Plot] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)


class Period(BaseModel):
    """The period a report covers: both days included; None means open-ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date | None = None
    end: date | None = None


class PolicyInForce(BaseModel):
    """A policy the archive acts under when the report is made, as events cite it (``id@version``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    version: str
    title: str
    sha256: str  # of the policy file's bytes


class Report(BaseModel):
    """An evidence report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["cts", "ndsa", "audit"]
    title: str
    #: The archive the report is about (the catalog's name for people, e.g. its database and store).
    archive: str
    generated: datetime
    period: Period
    software: str  # "oais 0.7.0"
    policies: list[PolicyInForce] = Field(default_factory=list)
    sections: list[Section]


def canonical_json(report: Report) -> bytes:
    """The report as canonical JSON: UTF-8, keys sorted, two-space indents, a final newline.

    The same report always gives the same bytes, so its sha256 identifies it.

    Args:
        report: the report.

    Returns:
        The bytes of ``report.json``.
    """
    data = report.model_dump(mode="json")
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


def digest(report_json: bytes) -> str:
    """The sha256 (hex) of a report's JSON bytes, as the HTML states it and the action log records it."""
    return hashlib.sha256(report_json).hexdigest()
