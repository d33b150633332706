"""Fixtures for this suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _unsigned_observations_for_hand_written_records(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that write observation records by hand read them without a MAC.

    The product never does (records must verify under their environment's key); the tests of
    that behaviour are marked ``signed_only`` and keep the product's default.
    """
    if request.node.get_closest_marker("signed_only") is None:
        from sandbox.profile import observations

        monkeypatch.setattr(observations, "TRUST_UNSIGNED", True)
