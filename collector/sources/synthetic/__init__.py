"""The synthetic Sentinel-2 world: an offline, deterministic stand-in for Earth Engine (SYNTHETIC).

Modules, from the ground up: ``hashing`` (reproducible random numbers), ``noise`` (smooth
ground-tied fields), ``climate`` (sun, temperature, moisture, cloudiness), ``landcover``
(classes and their layout), ``changes`` (land-cover change events), ``phenology`` (seasonal
state of vegetation and crops), ``spectra`` (13-band spectra and the atmosphere), ``scenes``
(tiles, revisit, per-scene weather), ``clouds`` (clouds, shadows, cloud probability),
``render`` (one scene to DN), ``source`` (:class:`SyntheticSource`), ``sites`` (demo
locations), ``preview`` (a picture) and ``bench`` (speed).
"""

from collector.sources.synthetic.landcover import LANDCOVER_CLASSES, class_proportions
from collector.sources.synthetic.source import SyntheticSource

__all__ = ["SyntheticSource", "LANDCOVER_CLASSES", "class_proportions"]
