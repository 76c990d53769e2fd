"""deepbrain: what the hidden layers of a Kaldi nnet1 acoustic model do while someone speaks."""

__version__ = "0.1.0"
