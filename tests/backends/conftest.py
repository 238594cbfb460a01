"""What every backend test shares: compiled kernels and C-simulation builds go to a cache of
this test run, not the user's (~/.cache/snapdeploy)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SNAPDEPLOY_CACHE", str(tmp_path_factory.mktemp("build-cache")))
        yield
