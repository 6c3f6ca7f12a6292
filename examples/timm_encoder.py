"""Load an exported SeCo encoder with timm and embed a few locations of a store.

python -m trainer export runs/demo/checkpoint.pt --out runs/demo/export
python examples/timm_encoder.py runs/demo/export datasets/demo.zarr
"""

import json
import sys
from pathlib import Path

import numpy as np
import timm
import torch

from shared import StoreReader
from trainer.scaling import BandScaling

export, store = Path(sys.argv[1]), sys.argv[2]
config = json.loads((export / "config.json").read_text())
model = timm.create_model(f"local-dir:{export}", pretrained=True).eval()  # pooled features
scaling = BandScaling.from_dict(config["scaling"])  # the normalisation used in pre-training
pixels = StoreReader(store).pixels(np.arange(4), seasons=[0], bands=config["bands"])[:, 0]
with torch.no_grad():
    x = scaling.standardize(scaling.to_unit(torch.from_numpy(pixels)))
    features = model(x)
print("features", tuple(features.shape))  # (4, num_features)
