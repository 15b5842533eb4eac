"""Cheap measured signals that ground the annotators and the quality checks.

Every cue has a definition and a unit (see ``CUES`` in each module and the README table).
"""
