"""The partner-bank publisher behind ``digindex publish``: files in, validated Avro events out.

``reader`` parses JSON Lines and CSV, ``records`` coerces fields to the Avro schema,
``rejects`` reports refused records, ``checkpoint`` holds the resume state,
``window`` bounds what is sent but not yet checkpointed, ``routing`` picks each
district's partition, and ``run`` is the loop that ties them to the idempotent
producer (``job`` holds its input and result).
"""

from .job import Job, Outcome
from .run import publish

__all__ = ["Job", "Outcome", "publish"]
