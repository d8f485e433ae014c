"""A synthetic evidence report with every kind of block and every kind of plot, for the renderer's tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from oais.domain.reports import (
    Figure,
    Finding,
    Level,
    Period,
    Plot,
    PolicyInForce,
    Report,
    Section,
    Series,
    Table,
)

HOSTILE = "<script>alert('x')</script> & \"quoted\""
DAYS = [(date(2024, 1, 1) + timedelta(days=i)).isoformat() for i in range(90)]
FORMATS = [
    "Portable Document Format/A-2b (fmt/476)",
    "Tagged Image File Format, version 6.0 with a very long registry name (fmt/353)",
    "Flexible Image Transport System 4.0 (x-fmt/383)",
    "JPEG File Interchange Format 1.02 (fmt/44)",
    "Comma-separated values (x-fmt/18)",
]


def sample_report() -> Report:
    """A report of four sections: figures and findings, tables, time series, formats and an empty plot."""
    return Report(
        kind="cts",
        title=f"CoreTrustSeal evidence {HOSTILE}",
        archive="Test archive (postgresql://catalog, s3://aips)",
        generated=datetime(2025, 1, 15, 9, 30, 5, tzinfo=UTC),
        period=Period(start=date(2024, 1, 1), end=date(2024, 12, 31)),
        software="oais 0.7.0",
        policies=[
            PolicyInForce(id="audit", version="3", title="Fixity audit policy", sha256="a" * 64),
            PolicyInForce(id="storage", version="1.2", title="Copies and locations", sha256="b" * 64),
        ],
        sections=[
            Section(
                key="R07",
                title="Data integrity and authenticity",
                summary="The repository guarantees the integrity and authenticity of the data.",
                figures=[
                    Figure(key="aips", label="AIPs", value=1234567, unit="AIPs"),
                    Figure(key="stored_bytes", label="Bytes stored", value=5 * 1024**4 + 123, unit="bytes"),
                    Figure(key="copies_ok", label="Every copy verified", value=True),
                    Figure(key="coverage", label="Audit coverage", value=99.25, unit="%"),
                    Figure(key="last_failure", label="Last fixity failure", value=None),
                ],
                findings=[
                    Finding(level=Level.OK, text="Every AIP version has 3 copies."),
                    Finding(level=Level.WARNING, text="2 copies were not audited within the cycle."),
                    Finding(level=Level.PROBLEM, text="1 fixity failure is not yet repaired."),
                ],
            ),
            Section(
                key="R08",
                title=f"Appraisal {HOSTILE}",
                summary="What the archive accepts, and who deposited it.",
                tables=[
                    Table(
                        key="producers",
                        title="AIPs by producer",
                        columns=["producer", "AIPs", "bytes", "restricted"],
                        rows=[
                            ["Observatory A", 120000, 98765432109, False],
                            [HOSTILE, 3, 2048, True],
                            ["Unknown", 0, 0.5, None],
                        ],
                        truncated=1500,
                        note="Producers as the SIPs name them.",
                    )
                ],
                findings=[Finding(level=Level.OK, text="Every AIP names its producer.")],
            ),
            Section(
                key="fixity",
                title="Fixity checks over time",
                summary="Copies checked each day, and the failures found.",
                plots=[
                    Plot(
                        key="checks_per_day",
                        title="Copies checked per day",
                        kind="line",
                        x_label="day",
                        y_label="copies",
                        x=DAYS,
                        series=[
                            Series(label="verified", values=[1000.0 + 37 * (i % 11) for i in range(90)]),
                            Series(label="failed", values=[float(i % 7 == 0) * 3 for i in range(90)]),
                        ],
                    ),
                    Plot(
                        key="ingest_by_month",
                        title="Ingests by month",
                        kind="bar",
                        x_label="month",
                        y_label="AIP versions",
                        x=["2024-01", "2024-02", "2024-03", "2024-04"],
                        series=[
                            Series(label="new AIPs", values=[120, 80, 95, 130]),
                            Series(label="new versions", values=[10, 25, 5, 40]),
                            Series(label="migrations", values=[0, 0, 300, 2]),
                        ],
                    ),
                    Plot(
                        key="storage_growth",
                        title="Bytes stored by location",
                        kind="stacked",
                        x_label="month",
                        y_label="bytes",
                        x=["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"],
                        series=[
                            Series(label="ceph-a", values=[1.5e12, 2.0e12, 2.6e12, 3.1e12]),
                            Series(label="tape-b", values=[1.4e12, 2.0e12, 2.5e12, 3.0e12]),
                        ],
                    ),
                ],
            ),
            Section(
                key="formats",
                title="Formats held",
                summary="The formats of the files the archive holds, by number of files.",
                plots=[
                    Plot(
                        key="files_by_format",
                        title="Files by format",
                        kind="barh",
                        x_label="format",
                        y_label="files",
                        x=FORMATS,
                        series=[Series(label="files", values=[53000, 120000, 9000, 450, 12])],
                    ),
                    Plot(
                        key="migrations",
                        title="Migrations run",
                        kind="line",
                        x_label="day",
                        y_label="files",
                        x=[],
                        series=[],
                    ),
                ],
                findings=[Finding(level=Level.WARNING, text="12 files are in a format at risk.")],
            ),
        ],
    )
