"""The ``rkhsmtl`` command line: ``demo``, ``fit``, ``predict``, ``evaluate``.

``rkhsmtl fit`` fits a model on a user's CSV or Parquet file (long or wide layout)
and saves it; ``predict`` and ``evaluate`` use the saved model on another file;
``demo`` runs baselines and a learned task structure on the bundled School data.
See the user guide's command-line page.
"""

from ._demo import run_demo
from ._io import load_model
from ._main import main

__all__ = ["load_model", "main", "run_demo"]
