"""Realistic Lambda functions for the end-to-end learning suite (one directory each)."""
