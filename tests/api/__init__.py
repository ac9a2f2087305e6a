"""Tests of hub/api/."""
