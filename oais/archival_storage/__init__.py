"""Archival storage: copies of AIP versions at every location, their fixity, replication and export."""
