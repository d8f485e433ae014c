"""oais."""
