"""Payments: the rolling digital-share index per district, bank and channel."""
