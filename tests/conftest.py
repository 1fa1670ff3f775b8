"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd_sam2.data.synth import SynthConfig, write_dataset


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A data root holding a small synthetic dataset (10 images of 96-160 px, DIS5K layout) under synthetic/.

    Shared by the whole session: tests read it and never write into it.
    """
    root = tmp_path_factory.mktemp("data")
    write_dataset(root / "synthetic", SynthConfig(num=10, min_size=96, max_size=160), workers=0, show=False)
    return root
