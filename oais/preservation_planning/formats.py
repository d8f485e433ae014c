"""The risk report: holdings by format against the format policy in force (``oais formats``)."""

from __future__ import annotations

from pydantic import BaseModel

from oais.domain.formats import FormatPolicy, FormatStatus
from oais.domain.ports import FormatCatalog

#: Statuses of formats the policy does not rate.
NOT_RATED = "not in policy"
UNIDENTIFIED = "unidentified"

# Most urgent first: what must be migrated, then what nobody has rated yet.
_ORDER = {
    FormatStatus.OBSOLETE.value: 0,
    FormatStatus.AT_RISK.value: 1,
    UNIDENTIFIED: 2,
    NOT_RATED: 3,
    FormatStatus.ACCEPTABLE.value: 4,
    FormatStatus.PREFERRED.value: 5,
}


class FormatLine(BaseModel):
    """One format held, with its status and what the policy does about it."""

    puid: str | None
    name: str
    status: str  # a FormatStatus value, "not in policy" or "unidentified"
    files: int
    bytes: int
    aips: int
    #: The preservation rule in a few words ("to fmt/11 with pillow"), empty if there is none.
    migration: str = ""
    #: Files of the AIPs' newest versions in this format that are not migrated yet (formats with a
    #: preservation rule; 0 for the others).
    unmigrated: int = 0


class FormatReport(BaseModel):
    """Holdings by format, most at risk first, and the tools the policy's rules need that are not
    installed here (each naming its Debian package)."""

    policy: str
    lines: list[FormatLine]
    missing_tools: list[str] = []

    @property
    def at_risk(self) -> list[FormatLine]:
        """The formats the policy marks at risk or obsolete."""
        return [ln for ln in self.lines if ln.status in (FormatStatus.AT_RISK, FormatStatus.OBSOLETE)]

    @property
    def due(self) -> list[FormatLine]:
        """The formats with files still to migrate."""
        return [ln for ln in self.lines if ln.unmigrated]


def format_report(
    policy: FormatPolicy, catalog: FormatCatalog, missing_tools: list[str] | None = None
) -> FormatReport:
    """Rate every format the catalog holds against ``policy``; ``missing_tools`` (see
    :func:`oais.adapters.format_tools.missing_tools`) goes into the report as it is."""
    lines = []
    unmigrated = catalog.unmigrated(p for p, r in policy.formats.items() if r.preservation is not None)
    for h in catalog.holdings():
        rules = policy.formats.get(h.puid) if h.puid else None
        if h.puid is None:
            status = UNIDENTIFIED
        elif rules is None:
            status = NOT_RATED
        else:
            status = rules.status.value
        rule = rules.preservation if rules is not None else None
        lines.append(
            FormatLine(
                puid=h.puid,
                name=rules.name if rules is not None else h.name,
                status=status,
                files=h.files,
                bytes=h.bytes,
                aips=h.aips,
                migration="" if rule is None else f"to {rule.target} with {rule.tool}",
                unmigrated=unmigrated[h.puid][0] if h.puid in unmigrated else 0,
            )
        )
    lines.sort(key=lambda ln: (_ORDER[ln.status], -ln.bytes, ln.puid or ""))
    return FormatReport(policy=policy.reference, lines=lines, missing_tools=missing_tools or [])
