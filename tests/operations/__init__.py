"""Tests of hub/operations/."""
