"""Tests of hub/auth/."""
