"""Profiles on the tooling side: the pydantic model, load/save, schema (build/merge/diff beside it)."""

from sandbox.profile.model import Coverage, DenyRule, Learning, Profile, Rule

__all__ = ["Coverage", "DenyRule", "Learning", "Profile", "Rule"]
