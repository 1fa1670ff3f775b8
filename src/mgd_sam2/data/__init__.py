"""Datasets, multi-view tiling, augmentation and the LightningDataModule."""
