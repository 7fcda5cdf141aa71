"""Mosquito detection from sound (HumBug baseline CNN and a small depthwise-separable CNN).

Importing this package registers the model specs ``mosquito-dscnn`` and ``mosquito-humbug-cnn``.
Training, evaluation and detection live in ``edgewise.models.mosquito.api`` (imported lazily: it needs
scikit-learn and soundfile).
"""
from __future__ import annotations

from edgewise.models.mosquito.nets import DSCNN, HumBugCNN
from edgewise.models.mosquito.specs import DSCNN_SPEC, HUMBUG_SPEC, SPECS, frontend

__all__ = ["DSCNN", "DSCNN_SPEC", "HUMBUG_SPEC", "HumBugCNN", "SPECS", "frontend"]
