"""BigEarthNet's two nomenclatures: the 43 CORINE Land Cover level-3 classes of the original
release and the 19 classes proposed for learning by Sumbul et al. ("BigEarthNet Deep Learning
Models with a New Class-Nomenclature for Remote Sensing Image Understanding", 2020), which
reBEN (BigEarthNet v2) uses directly.

The 19-class nomenclature merges some classes (both urban fabrics; the three arable lands; the
permanent crops with "Annual crops associated with permanent crops"; …) and drops eleven that
cannot be recognised from a 1.2 km Sentinel-2 patch (roads and rail, port areas, airports,
mineral extraction, dump and construction sites, green urban areas, sport and leisure
facilities, bare rock, burnt areas, intertidal flats).
"""

from __future__ import annotations

__all__ = ["CLASSES_43", "CLASSES_19", "TO_19", "labels_to_indices"]

#: The 43 classes in the order of the original release.
CLASSES_43: tuple[str, ...] = (
    "Continuous urban fabric",
    "Discontinuous urban fabric",
    "Industrial or commercial units",
    "Road and rail networks and associated land",
    "Port areas",
    "Airports",
    "Mineral extraction sites",
    "Dump sites",
    "Construction sites",
    "Green urban areas",
    "Sport and leisure facilities",
    "Non-irrigated arable land",
    "Permanently irrigated land",
    "Rice fields",
    "Vineyards",
    "Fruit trees and berry plantations",
    "Olive groves",
    "Pastures",
    "Annual crops associated with permanent crops",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland",
    "Moors and heathland",
    "Sclerophyllous vegetation",
    "Transitional woodland/shrub",
    "Beaches, dunes, sands",
    "Bare rock",
    "Sparsely vegetated areas",
    "Burnt areas",
    "Inland marshes",
    "Peatbogs",
    "Salt marshes",
    "Salines",
    "Intertidal flats",
    "Water courses",
    "Water bodies",
    "Coastal lagoons",
    "Estuaries",
    "Sea and ocean",
)

#: The 19 classes, in their published order.
CLASSES_19: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)

_MERGED: dict[str, tuple[str, ...]] = {
    "Urban fabric": ("Continuous urban fabric", "Discontinuous urban fabric"),
    "Industrial or commercial units": ("Industrial or commercial units",),
    "Arable land": ("Non-irrigated arable land", "Permanently irrigated land", "Rice fields"),
    "Permanent crops": (
        "Vineyards",
        "Fruit trees and berry plantations",
        "Olive groves",
        "Annual crops associated with permanent crops",
    ),
    "Pastures": ("Pastures",),
    "Complex cultivation patterns": ("Complex cultivation patterns",),
    CLASSES_19[6]: (CLASSES_19[6],),
    "Agro-forestry areas": ("Agro-forestry areas",),
    "Broad-leaved forest": ("Broad-leaved forest",),
    "Coniferous forest": ("Coniferous forest",),
    "Mixed forest": ("Mixed forest",),
    "Natural grassland and sparsely vegetated areas": (
        "Natural grassland",
        "Sparsely vegetated areas",
    ),
    "Moors, heathland and sclerophyllous vegetation": (
        "Moors and heathland",
        "Sclerophyllous vegetation",
    ),
    "Transitional woodland, shrub": ("Transitional woodland/shrub",),
    "Beaches, dunes, sands": ("Beaches, dunes, sands",),
    "Inland wetlands": ("Inland marshes", "Peatbogs"),
    "Coastal wetlands": ("Salt marshes", "Salines"),
    "Inland waters": ("Water courses", "Water bodies"),
    "Marine waters": ("Coastal lagoons", "Estuaries", "Sea and ocean"),
}

#: 43-class name → 19-class name; the eleven dropped classes are absent.
TO_19: dict[str, str] = {old: new for new, olds in _MERGED.items() for old in olds}


def labels_to_indices(names: list[str], n_classes: int) -> list[int]:
    """Class indices of a patch's label names in the ``n_classes`` (19 or 43) nomenclature.

    43-class names are accepted for both (mapped through :data:`TO_19`, dropped classes
    vanish); 19-class names only for 19. Raises ``ValueError`` for an unknown name.
    """
    target = CLASSES_19 if n_classes == 19 else CLASSES_43
    out: set[int] = set()
    for name in names:
        if name in target:
            out.add(target.index(name))
        elif n_classes == 19 and name in CLASSES_43:
            if name in TO_19:
                out.add(CLASSES_19.index(TO_19[name]))
        else:
            raise ValueError(f"unknown BigEarthNet label {name!r} for {n_classes} classes")
    return sorted(out)
