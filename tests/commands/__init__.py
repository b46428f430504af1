"""The management commands (CONTRACT §2): one module per command."""
