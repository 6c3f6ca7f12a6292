"""What the stored values mean: time units and fill, the cloud probability scale, pixel DNs.

The descriptions here are the ``description`` attributes of ``pixels`` and ``cloud``
(:mod:`shared.layout.arrays`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TIME_UNITS",
    "TIME_FILL",
    "CLOUD_CLEAR_BELOW",
    "CLOUD_NODATA",
    "PIXEL_DESCRIPTION",
    "NATIVE_PIXEL_DESCRIPTION",
    "CLOUD_DESCRIPTION",
]

TIME_UNITS = "milliseconds since 1970-01-01T00:00:00"
TIME_FILL = np.iinfo(np.int64).min
#: ``cloud`` holds a cloud probability in percent (0 clear … 100 cloud, 255 no data);
#: a pixel counts as clear below this value (Cloud Score+ ``cs_cdf ≥ 0.6`` ⇔ cloud < 40).
CLOUD_CLEAR_BELOW = 40
CLOUD_NODATA = 255

PIXEL_DESCRIPTION = "harmonized Sentinel-2 DN = reflectance x 10000 on the 10 m grid; 0 = no data"
NATIVE_PIXEL_DESCRIPTION = (
    "harmonized Sentinel-2 DN = reflectance x 10000 at the band's native {res} resolution; "
    "0 = no data"
)
CLOUD_DESCRIPTION = (
    "cloud or shadow probability in percent: 0 clear .. 100 cloud; 255 no data; "
    f"clear when < {CLOUD_CLEAR_BELOW}"
)
