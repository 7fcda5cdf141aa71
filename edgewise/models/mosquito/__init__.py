"""Mosquito detection from sound (HumBug baseline CNN and a small depthwise-separable CNN).

Importing this package registers the model specs ``mosquito-dscnn`` and ``mosquito-humbug-cnn``.
Training, evaluation and detection live in ``edgewise.models.mosquito.api`` (imported lazily: it needs
scikit-learn and soundfile). Every model choice is made on the by-source protocol: the folds in
``sources`` (leave-one-source-out and a fixed by-source split), the runs in ``protocol``
(``benchmarks/mosquito_by_source.py``). Clips shorter than a window are tiled (``clips``).
"""
from __future__ import annotations

from edgewise.models.mosquito.nets import DSCNN, HumBugCNN
from edgewise.models.mosquito.sources import Fold, fixed_split, loso_folds
from edgewise.models.mosquito.specs import DSCNN_SPEC, HUMBUG_SPEC, SPECS, frontend

__all__ = ["DSCNN", "DSCNN_SPEC", "Fold", "HUMBUG_SPEC", "HumBugCNN", "SPECS", "fixed_split", "frontend", "loso_folds"]
