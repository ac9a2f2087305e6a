"""Tests of hub/compliance/."""
