"""The training loop (trainer.py) and what it draws on: batch draws, the weight
average and data-parallel runs under torchrun. Imports torch."""
