"""The partner-bank publisher behind ``digindex publish``: files in, validated Avro events out.

``reader`` parses JSON Lines and CSV, ``records`` coerces fields to the Avro schema,
``rejects`` reports refused records, ``checkpoint`` holds the resume state and
``run`` is the loop that ties them to the idempotent producer.
"""

from .run import Job, Outcome, publish

__all__ = ["Job", "Outcome", "publish"]
