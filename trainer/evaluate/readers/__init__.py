"""Readers of the downstream datasets, returning raw uint16 DNs in the canonical L1C band order.

``EuroSAT`` (scene classification, :class:`ImageDataset`) and ``OSCD`` (bi-temporal change
detection, :class:`PairDataset`); both read the layouts the authors distribute.
"""

from trainer.evaluate.readers.base import (
    L1C_ORDER,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    ImageDataset,
    PairDataset,
    default_splits_path,
    select_bands,
)
from trainer.evaluate.readers.eurosat import EUROSAT_FILE_ORDER, EuroSAT, EuroSATItem
from trainer.evaluate.readers.oscd import OSCD, OSCD_FOLDERS, City

__all__ = [
    "L1C_ORDER",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageDataset",
    "PairDataset",
    "default_splits_path",
    "select_bands",
    "EUROSAT_FILE_ORDER",
    "EuroSAT",
    "EuroSATItem",
    "OSCD",
    "OSCD_FOLDERS",
    "City",
]
