"""Keeping NNCF's statistics collection within memory (OpenVINO int8, inference/export.py).

NNCF collects its calibration statistics by running a copy of the model with extra outputs: a reduction (min, max,
mean) of each activation it quantizes. It appends those outputs after the network's own, and OpenVINO's CPU plugin
orders the nodes from the outputs in that order, so every reduction runs after the whole network and every
activation it reads stays allocated until the end. With the statistics outputs first, each reduction runs right
after the activation it reads, whose memory is then reused: the same statistics, a fraction of the peak (for
base_plus: docs/benchmarks.md, Speed).
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def statistics_outputs_first() -> Iterator[None]:
    """Within the block, models NNCF extends with outputs list the added outputs before the original ones. A
    no-op where NNCF no longer has the method it patches (the collection then takes more memory, not another
    result; the benchmark's export_peak_memory_mb shows it)."""
    import openvino as ov

    try:
        from nncf.openvino.graph.model_transformer import OVModelTransformer
        from nncf.openvino.graph.model_utils import copy_rt_info
    except ImportError:
        yield
        return
    insert_outputs = OVModelTransformer.__dict__.get("_insert_outputs")
    if not isinstance(insert_outputs, staticmethod):
        yield
        return

    def added_first(model: ov.Model, outputs: list) -> ov.Model:
        extended = insert_outputs.__func__(model, outputs)
        results, kept = list(extended.get_results()), len(model.get_results())
        reordered = ov.Model(results=results[kept:] + results[:kept], sinks=extended.get_sinks(),
                             parameters=extended.get_parameters(), name=extended.friendly_name)  # fmt: skip
        copy_rt_info(extended, reordered, path=["nncf"])  # as NNCF's own method does
        return reordered

    OVModelTransformer._insert_outputs = staticmethod(added_first)
    try:
        yield
    finally:
        OVModelTransformer._insert_outputs = insert_outputs
