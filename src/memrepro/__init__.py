"""memrepro: rebuild the figures of four papers on memorization of noisy labels."""

__version__ = "0.1.0"
