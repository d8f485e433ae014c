"""The catalog as portals and tools search it: a read model over the :class:`AipSearch` port, with
what a token may see applied here, once, whoever calls."""

from __future__ import annotations

from datetime import UTC, datetime

from oais.domain.access_control import Action, ApiToken, Scope
from oais.domain.errors import AccessDenied
from oais.domain.ports import AipSearch
from oais.domain.search import AipSummary, SearchPage, SearchQuery

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC, the catalog's zone (a time without a zone is taken as UTC). A time whose
    UTC falls outside the years 1 to 9999 is as early or as late as can be."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return _EARLIEST if moment.year < 5000 else _LATEST


class CatalogSearch:
    """Searches the catalog on behalf of an API token."""

    def __init__(self, search: AipSearch) -> None:
        """Args:
        search: the catalog's search adapter.
        """
        self._search = search

    def search(self, query: SearchQuery, token: ApiToken) -> SearchPage:
        """The AIPs matching ``query`` that ``token`` may see.

        A producer token sees only the AIPs of its own producer, whatever the query asks.

        Args:
            query: the criteria and the page.
            token: who asks.

        Returns:
            One page of results with the total number of matches.

        Raises:
            AccessDenied: the token may not search at all.
            CatalogError: the database failed.
        """
        scope = token.scope(Action.SEARCH)
        if scope is Scope.NONE:
            raise AccessDenied(f"a {token.role.value} token may not search the catalog")
        update: dict[str, object] = {
            "created_from": _utc(query.created_from),
            "created_to": _utc(query.created_to),
        }
        if scope is Scope.OWN:
            if query.producer_exact is not None and query.producer_exact != token.producer:
                return SearchPage(total=0, limit=query.limit, offset=query.offset, results=[])
            update["producer_exact"] = token.producer
        return self._search.search(query.model_copy(update=update))

    def visible(self, aip_id: str, token: ApiToken, action: Action) -> AipSummary | None:
        """The AIP ``aip_id`` if it exists and ``token`` may do ``action`` on it, else None.

        An AIP of another producer is None, as if it did not exist: a producer learns nothing of
        what others hold.

        Raises:
            CatalogError: the database failed.
        """
        found = self._search.summary(aip_id)
        if found is None or not token.sees(action, found.producer):
            return None
        return found
