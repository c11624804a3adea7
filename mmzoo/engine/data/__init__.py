"""A corpus split as tensors for one model: built up front from an in-memory corpus
(batches.py) or drawn on demand from a token store (token_batches.py). Imports torch."""
