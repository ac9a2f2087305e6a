"""Tests of hub/web/."""
