"""The grievances signal: failed-transaction complaints against the RBI turn-around times."""
