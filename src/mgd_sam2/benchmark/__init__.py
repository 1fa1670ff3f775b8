"""Benchmarks: accuracy tables, model speed/memory, ablations, and the data and metric pipelines' speed."""
