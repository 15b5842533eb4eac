"""Pipeline stages. Each user-facing stage name maps to one or more Stage classes."""
