"""Inference: loading any weights a user has, the predict loop, logits to 8-bit maps, and writing masks."""
