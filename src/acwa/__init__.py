"""acwa: make deep classifiers work on imbalanced data.

Public names: :class:`ACWATrainer` (adaptive class weights), :class:`FocalLoss`,
:class:`EarlyStopping`; submodules :mod:`acwa.losses`, :mod:`acwa.metrics`,
:mod:`acwa.adaptive`.
"""
from .adaptive import AdaptiveClassWeights, acwa_update
from .early_stopping import EarlyStopping
from .losses import FocalLoss
from .trainer import ACWATrainer

__version__ = "0.1.0"

__all__ = ["ACWATrainer", "AdaptiveClassWeights", "acwa_update", "EarlyStopping", "FocalLoss", "__version__"]
