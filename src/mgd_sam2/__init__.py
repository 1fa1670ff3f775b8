"""MGD-SAM2: SAM2 with multi-view adapters for prompt-free high-resolution segmentation."""

__version__ = "0.1.0"
