"""Digital enablement: per-account modes, coverage per district and account type, camp enablements."""
