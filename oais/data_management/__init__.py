"""data_management."""
