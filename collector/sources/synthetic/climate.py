"""The synthetic world's climate: sun, temperature, moisture and cloudiness by place and date.

Everything is a smooth function of latitude and day of year, written for the hemisphere's own
calendar (``doy_h``: the southern hemisphere runs half a year behind the northern one), plus
slow regional and weather anomalies drawn from hashes. Figures are rough climatology, tuned
for plausibility rather than accuracy: e.g. at 45° N the air is ≈ 3 °C in mid-January and
≈ 26 °C in mid-July; the tropics stay near 27 °C with a dry season in local winter.
"""

from __future__ import annotations

import numpy as np

from collector.sources.synthetic.hashing import hash_uniform

__all__ = [
    "OVERPASS_HOUR",
    "as_day",
    "day_of_year",
    "hemisphere_doy",
    "solar_position",
    "temperature",
    "moisture",
    "cloud_mean",
    "slow_anomaly",
]

#: Local solar time of the Sentinel-2 overpass (descending node ≈ 10:30).
OVERPASS_HOUR = 10.5
_YEAR = 365.25


def as_day(value: object) -> np.datetime64:
    """A date or time (``datetime64``, string, ``datetime``) as a ``datetime64[D]`` scalar."""
    return np.datetime64(str(np.asarray(value, dtype="datetime64[D]")), "D")


def day_of_year(days: np.ndarray) -> np.ndarray:
    """Day of year (1 … 366) of ``datetime64[D]`` values; int64, same shape."""
    d = np.asarray(days, dtype="datetime64[D]")
    return (d - d.astype("datetime64[Y]")).astype(np.int64) + 1


def hemisphere_doy(lat: float, doy: np.ndarray) -> np.ndarray:
    """Day of the hemisphere's own year: ``doy`` in the north, ``doy + ½ year`` in the south."""
    doy = np.asarray(doy, dtype=np.float64)
    return doy if lat >= 0 else (doy + _YEAR / 2) % _YEAR


def solar_position(
    lat: float, doy: np.ndarray, hour: float = OVERPASS_HOUR
) -> tuple[np.ndarray, np.ndarray]:
    """Sun elevation and azimuth (degrees; azimuth clockwise from north) at local solar ``hour``."""
    phi = np.radians(lat)
    decl = np.radians(-23.44) * np.cos(2 * np.pi * (np.asarray(doy, np.float64) + 10) / _YEAR)
    h = np.radians(15.0 * (hour - 12.0))
    sin_el = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(h)
    el = np.degrees(np.arcsin(np.clip(sin_el, -1, 1)))
    az = np.degrees(
        np.arctan2(
            -np.cos(decl) * np.sin(h),
            np.sin(decl) * np.cos(phi) - np.cos(decl) * np.sin(phi) * np.cos(h),
        )
    )
    return el, az % 360.0


def temperature(lat: float, doy_h: np.ndarray, continentality: float = 0.5) -> np.ndarray:
    """Air temperature (°C) of the lowland climate at ``lat`` on hemisphere day ``doy_h``.

    ``continentality`` in [0, 1] widens the annual swing (0 maritime, 1 continental).
    """
    a = abs(lat)
    mean = 28.0 - 0.0066 * a * a
    swing = 18.0 * np.sin(np.radians(a)) ** 1.3 * (0.75 + 0.5 * continentality)
    return mean - swing * np.cos(2 * np.pi * (np.asarray(doy_h, np.float64) - 25.0) / _YEAR)


def _bump(x: float, centre: float, half_width: float) -> float:
    t = np.clip(1.0 - abs(x - centre) / half_width, 0.0, 1.0)
    return float(t * t * (3 - 2 * t))


def moisture(lat: float, doy_h: np.ndarray, dry_summer: float) -> np.ndarray:
    """Plant-available moisture in [0, 1]: 1 wet, lower in a dry season.

    Tropical savanna belts (|lat| ≈ 5–27°) dry out in local winter; ``dry_summer`` in [0, 1]
    scales a Mediterranean-type summer drought around |lat| ≈ 30–45°.
    """
    a = abs(lat)
    phase = 2 * np.pi * (np.asarray(doy_h, np.float64) - 200.0) / _YEAR
    trop = 0.75 * _bump(a, 15.0, 12.0)
    med = 0.55 * _bump(a, 37.0, 9.0) * dry_summer
    wet_summer = 1.0 - trop * 0.5 * (1.0 - np.cos(phase))
    dry = 1.0 - med * 0.5 * (1.0 + np.cos(phase))
    return wet_summer * dry


_CLOUD_LAT = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 90.0])
_CLOUD_MEAN = np.array([0.58, 0.5, 0.3, 0.25, 0.31, 0.39, 0.48, 0.56, 0.6])


def cloud_mean(lat: float, doy_h: np.ndarray, region: float) -> np.ndarray:
    """Mean granule cloud cover (fraction) by latitude belt and season, in [0.04, 0.92].

    Wet tropics and high latitudes are cloudiest, the subtropical belts clearest; the tropics
    cloud up in the local summer (monsoon), middle and high latitudes in winter. ``region`` in
    [0, 1] moves a place ±0.12 (dry interior … wet coast).
    """
    a = abs(lat)
    base = float(np.interp(a, _CLOUD_LAT, _CLOUD_MEAN))
    doy_h = np.asarray(doy_h, np.float64)
    monsoon = 0.2 * _bump(a, 14.0, 14.0) * np.cos(2 * np.pi * (doy_h - 200.0) / _YEAR)
    winter = 0.16 * _bump(a, 42.0, 22.0) * np.cos(2 * np.pi * (doy_h - 15.0) / _YEAR)
    return np.clip(base + monsoon + winter + 0.24 * (region - 0.5), 0.04, 0.92)


def slow_anomaly(key: int, day_number: np.ndarray, period_days: float = 12.0) -> np.ndarray:
    """Weather noise along time: smooth, zero mean, unit variance, decorrelating over ``period_days``.

    ``day_number`` counts days since 1970-01-01 (float or int array); same key and day, same value.
    """
    t = np.asarray(day_number, np.float64) / period_days
    b = np.floor(t).astype(np.int64)
    s = t - b
    s = s * s * (3 - 2 * s)
    v0, v1 = hash_uniform(key, b[None] + np.arange(2).reshape((2,) + (1,) * b.ndim)) - 0.5
    # interpolation lowers the variance; rescale so the anomaly has unit variance on average
    return ((1 - s) * v0 + s * v1) * np.sqrt(12.0 / 0.74)
