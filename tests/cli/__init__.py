"""Tests of hub/cli/."""
