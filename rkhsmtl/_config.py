"""Global settings of rkhsmtl: :func:`get_config`, :func:`set_config`, :func:`config_context`.

Modelled on scikit-learn's configuration: a thread-local dictionary of settings,
changed globally with :func:`set_config` or for a block of code with
:func:`config_context`. The settings are about resources, never about results.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

__all__ = ["config_context", "get_config", "set_config"]


def _limit_from_environment():
    # An environment variable lets a batch job cap memory without code changes.
    value = os.environ.get("RKHSMTL_MEMORY_LIMIT")
    return float(value) if value else None


_global_config = {
    "memory_limit": None,
    "working_memory": 64,
}
_threadlocal = threading.local()


def _get_threadlocal_config():
    if not hasattr(_threadlocal, "config"):
        _threadlocal.config = dict(_global_config)
    return _threadlocal.config


def get_config():
    """Current values of the settings of :func:`set_config`.

    Returns
    -------
    config : dict
        Keys are the parameter names of :func:`set_config`. ``memory_limit`` is
        ``None`` unless set here or through the ``RKHSMTL_MEMORY_LIMIT``
        environment variable (read when the value is requested).
    """
    config = dict(_get_threadlocal_config())
    if config["memory_limit"] is None:
        config["memory_limit"] = _limit_from_environment()
    return config


def _check_positive(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be None or a positive number, got {value!r}.")
    return value


def _update(config, memory_limit, working_memory):
    if memory_limit is not None:
        config["memory_limit"] = float(_check_positive("memory_limit", memory_limit))
    if working_memory is not None:
        config["working_memory"] = float(_check_positive("working_memory",
                                                         working_memory))


def set_config(memory_limit=None, working_memory=None):
    """Set rkhsmtl settings (for the current thread, as scikit-learn's ``set_config``).

    Parameters
    ----------
    memory_limit : float, default=None
        Bytes that rkhsmtl may plan to use, at most: solvers choose, and memory
        checks refuse, against 90 % of the smaller of this limit and the memory
        actually available (free host RAM, or free GPU memory for CuPy). ``None``
        leaves the setting unchanged; the initial value is the
        ``RKHSMTL_MEMORY_LIMIT`` environment variable (bytes) when set, else no
        limit beyond the available memory.
    working_memory : float, default=None
        Mebibytes of temporaries one row block of a kernel computation may use
        (kernel rows in prediction, streamed kernel products, the blocks of the
        observed-entries system). The effective value is the smaller of this one
        (initially 64) and scikit-learn's ``working_memory``
        (:func:`sklearn.set_config`). ``None`` leaves the setting unchanged.

    See Also
    --------
    config_context : The same settings for a block of code.
    get_config : The current settings.
    """
    _update(_get_threadlocal_config(), memory_limit, working_memory)


@contextmanager
def config_context(*, memory_limit=None, working_memory=None):
    """Settings of :func:`set_config` within a ``with`` block, restored afterwards.

    Parameters
    ----------
    memory_limit : float, default=None
        See :func:`set_config`.
    working_memory : float, default=None
        See :func:`set_config`.

    Yields
    ------
    None

    Examples
    --------
    >>> import rkhsmtl
    >>> with rkhsmtl.config_context(memory_limit=2e9):
    ...     rkhsmtl.get_config()["memory_limit"]
    2000000000.0
    """
    local_config = _get_threadlocal_config()
    old = dict(local_config)
    try:
        _update(local_config, memory_limit, working_memory)
        yield
    finally:
        local_config.clear()
        local_config.update(old)
