"""Data: the sample table datasets return, labels and targets, splits, decoding and batches.

Dataset plugins return a table (docs/data.md); everything after that is shared: label checks,
patient-grouped splits, a decoded uint8 image cache, augmentation and batching.
"""
