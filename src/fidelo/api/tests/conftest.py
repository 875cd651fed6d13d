import pytest

from fidelo.api.tests.helpers import World, make_world


@pytest.fixture
def world(org, store, api) -> World:
    """An organization with a store, two members, transfers allowed, one purchase of 42 points."""
    return make_world(org, store, api)
