"""preservation_planning."""
