"""The social-security enrolment signal: scheme enrolments per account and scheme coverage."""
