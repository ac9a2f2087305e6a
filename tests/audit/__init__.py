"""Tests of hub/audit/."""
