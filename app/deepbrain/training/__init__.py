"""Train a phone-classifying DNN in the seed system's shape, in numpy, and write it as a
Kaldi nnet1 model directory (what ``make demo-model`` ships as ``models/demo``).

The recipe (:func:`make_model`): an espeak-ng corpus (:mod:`deepbrain.corpus`) -> the
model's own front end on every utterance (deepbrain.features: MFCC 13 -> per-utterance
means-only CMVN -> splice +-3) -> an LDA to 40 dims (``final.mat``) -> a feature transform
(splice +-5, global mean/std: ``final.feature_transform``) -> sigmoid hidden layers and a
softmax over the phones (``final.nnet``), trained with frame-level cross-entropy -> test
accuracy on held-out voices and the hidden units' phone selectivity, through the numpy engine.
"""

from .errors import TrainingError
from .recipe import RecipeConfig, RecipeResult, make_model
from .trainer import EpochReport, TrainConfig

__all__ = ["EpochReport", "RecipeConfig", "RecipeResult", "TrainConfig", "TrainingError",
           "make_model"]
