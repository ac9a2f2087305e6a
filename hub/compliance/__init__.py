"""Compliance review: obligation rules, periods, evaluation, charts and reports."""
