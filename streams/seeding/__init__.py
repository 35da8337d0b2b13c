"""Aadhaar seeding: per-account latest status, and coverage per district."""
