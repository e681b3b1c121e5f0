"""Test helpers shared by the test suite (fake PTB transport backed by the stand-in)."""
