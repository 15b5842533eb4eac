"""The ``own_process`` marker (tests/conftest.py): the test body runs in a child pytest."""

from __future__ import annotations

import os

import pytest

from .conftest import OWN_PROCESS_ENV


@pytest.mark.own_process
def test_a_marked_test_runs_in_a_child_pytest():
    # Only the parent's hook sets the variable, in the environment of the child it starts.
    assert os.environ.get(OWN_PROCESS_ENV) == "1"


def test_an_unmarked_test_runs_in_the_session():
    assert OWN_PROCESS_ENV not in os.environ
