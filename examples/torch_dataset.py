"""Iterate a store as PyTorch tensors with your own training code (no trainer needed).

python examples/torch_dataset.py datasets/demo.zarr
"""

import sys

import torch

from shared.access.torch_dataset import SeasonalPatches

dataset = SeasonalPatches(sys.argv[1], bands="rgb", seasons=[0, 2])
loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, num_workers=0)
batch = next(iter(loader))
print("image", tuple(batch["image"].shape), batch["image"].dtype)  # (4, 2, 3, H, W) reflectance
print(
    "time",
    tuple(batch["time"].shape),
    "lon/lat",
    batch["lon"][:2].tolist(),
    batch["lat"][:2].tolist(),
)
print(f"{len(dataset)} locations, bands {dataset.bands}, synthetic={dataset.synthetic}")
