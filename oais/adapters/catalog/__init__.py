"""The catalog: an index of AIPs, versions, files, PREMIS events and agents in SQLite or PostgreSQL.

It can be rebuilt from storage (see docs/decisions/0005-catalog-schema.md). Public entry points:
:func:`~oais.adapters.catalog.engine.make_engine`, :func:`~oais.adapters.catalog.migrations.upgrade`,
:func:`~oais.adapters.catalog.uow.sql_unit_of_work_factory` and, for unit tests,
:class:`~oais.adapters.catalog.memory.InMemoryCatalog`.
"""
