"""Tests of hub/crypto/."""
