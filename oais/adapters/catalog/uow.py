"""The catalog unit of work on SQLAlchemy: one session, one transaction, committed explicitly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from oais.adapters.catalog.engine import make_engine
from oais.adapters.catalog.repository import SqlAipRepository, describe_integrity_error
from oais.domain.errors import CatalogError
from oais.domain.ports import AipRepository

if TYPE_CHECKING:
    from oais.domain.ports import UnitOfWork, UnitOfWorkFactory


class SqlUnitOfWork:
    """:class:`~oais.domain.ports.UnitOfWork` on a SQLAlchemy session.

    Use it as a context manager: ``aips`` exists inside the ``with`` block only, and whatever was
    not committed when the block ends is rolled back.
    """

    aips: AipRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        """Prepare a unit of work; nothing connects until it is entered.

        Args:
            session_factory: makes the session (bound to the catalog's engine).
        """
        self._session_factory = session_factory
        self._session: Session | None = None

    def __enter__(self) -> Self:
        """Open the session and the repository on it."""
        self._session = self._session_factory()
        self.aips = SqlAipRepository(self._session)
        return self

    def __exit__(self, *exc: object) -> None:
        """Roll back anything not committed and close the session."""
        session = self._require_session()
        try:
            session.rollback()
        finally:
            session.close()
            self._session = None
            del self.aips

    def commit(self) -> None:
        """Commit everything done in this unit of work.

        Raises:
            CatalogError: if the database refuses the transaction (the message names the rule that
                was broken, e.g. a duplicate AIP version) or cannot be reached; nothing is kept.
        """
        session = self._require_session()
        try:
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise CatalogError(f"catalog commit refused: {describe_integrity_error(exc)}") from exc
        except SQLAlchemyError as exc:
            session.rollback()
            raise CatalogError(f"catalog commit failed: {exc}") from exc

    def rollback(self) -> None:
        """Discard everything not committed."""
        self._require_session().rollback()

    def _require_session(self) -> Session:
        if self._session is None:
            raise CatalogError("the unit of work is used outside its 'with' block")
        return self._session


class SqlUnitOfWorkFactory:
    """Makes :class:`SqlUnitOfWork` instances that share one engine (and its connection pool)."""

    def __init__(self, engine: Engine) -> None:
        """Use ``engine`` for every unit of work.

        Args:
            engine: the catalog engine (see :func:`~oais.adapters.catalog.engine.make_engine`).
        """
        self.engine = engine
        # Rows read are never reused after a commit, so there is nothing to expire.
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def __call__(self) -> SqlUnitOfWork:
        """A new unit of work (enter it with ``with``)."""
        return SqlUnitOfWork(self._sessions)

    def dispose(self) -> None:
        """Close every pooled connection (on shutdown, or before the database is dropped)."""
        self.engine.dispose()


def sql_unit_of_work_factory(url: str) -> SqlUnitOfWorkFactory:
    """A unit-of-work factory for the catalog at ``url``, creating its engine once.

    The schema is not touched: call :func:`oais.adapters.catalog.migrations.upgrade` first.

    Args:
        url: the catalog database URL.

    Returns:
        The factory, a :data:`~oais.domain.ports.UnitOfWorkFactory` with a ``dispose()`` method.

    Raises:
        CatalogError: if the URL is not a supported database URL.
    """
    return SqlUnitOfWorkFactory(make_engine(url))


if TYPE_CHECKING:
    # mypy proves here that the classes satisfy the ports they implement.
    def _is_unit_of_work(uow: SqlUnitOfWork) -> UnitOfWork:
        return uow

    def _is_factory(factory: SqlUnitOfWorkFactory) -> UnitOfWorkFactory:
        return factory

    def _is_repository(repository: SqlAipRepository) -> AipRepository:
        return repository
