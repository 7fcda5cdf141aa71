"""ECG delineation models: the 1-D U-Net, its spec, augmentation and training."""
from __future__ import annotations

from edgewise.models.ecg.spec import ECG_SPEC, ECG_12_SPEC
from edgewise.models.ecg.unet import UNet1d, count_macs
from edgewise.models.ecg import hydra  # noqa: E402,F401  (registers ecg-unet-hydra for load_checkpoint)

__all__ = ["ECG_SPEC", "ECG_12_SPEC", "UNet1d", "count_macs"]
