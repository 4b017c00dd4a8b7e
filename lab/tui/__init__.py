"""The Textual dashboard: a reader of run folders that launches runs as detached processes."""
