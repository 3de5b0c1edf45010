"""Finished units on disk: one JSON record per unit, written atomically.

A record is written to a temporary file in the cache folder and moved over its
final name with :func:`os.replace`, which is atomic: a run killed at any moment
leaves every record either complete or absent, never half written. The key of a
unit hashes everything its result depends on -- the estimator's class and
parameters, the data's fingerprint, the split, the metrics and the versions of
rkhsmtl and scikit-learn -- and nothing else: renaming a method or reordering the
experiment reuses the records; changing one parameter recomputes only the units of
that estimator.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings

import joblib
import sklearn
from sklearn.base import clone

__all__ = ["UnitCache", "unit_key"]

# Bump when the layout of a record changes: older records are then recomputed.
RECORD_FORMAT = 1


def estimator_key(estimator):
    """A hash of the estimator's class and parameters (not of any fitted state)."""
    return joblib.hash(clone(estimator, safe=False))


def unit_key(estimator_hash, data_fingerprint, split_key, metrics_key):
    """The cache key of one unit (a hex string)."""
    from .. import __version__

    return joblib.hash({
        "format": RECORD_FORMAT, "rkhsmtl": __version__, "sklearn": sklearn.__version__,
        "estimator": estimator_hash, "data": data_fingerprint, "split": split_key,
        "metrics": metrics_key,
    })


class UnitCache:
    """A folder of unit records, ``<folder>/<key[:2]>/<key>.json``.

    Parameters
    ----------
    directory : str or path-like
        Created if needed.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        os.makedirs(self.directory, exist_ok=True)

    def __repr__(self):
        return f"UnitCache({self.directory!r})"

    def path(self, key):
        return os.path.join(self.directory, key[:2], f"{key}.json")

    def load(self, key):
        """The stored record of ``key``, or None (absent or unreadable)."""
        path = self.path(key)
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            warnings.warn(f"Ignoring the unreadable cached unit {path!r} ({exc}); it "
                          "is recomputed.", RuntimeWarning, stacklevel=2)
            return None

    def store(self, key, record):
        """Write ``record`` under ``key`` atomically."""
        path = self.path(key)
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def keys(self):
        """Keys of every stored record."""
        found = []
        for sub in sorted(os.listdir(self.directory)):
            folder = os.path.join(self.directory, sub)
            if os.path.isdir(folder):
                found.extend(name[:-5] for name in sorted(os.listdir(folder))
                             if name.endswith(".json") and not name.startswith("."))
        return found
