"""Methods of a search that answer with the model it refitted.

The searches (:class:`~rkhsmtl.MultiTaskKernelRidgeCV`,
:class:`~rkhsmtl.MultiTaskKernelClassifierCV`, the linear ``...CV`` estimators)
refit the best candidate as ``best_estimator_`` and answer ``predict``, ``score``
and their kin with it. Each such method is made here by `refit_method`, with the
signature and documentation of the model's own method, so that the two cannot
drift apart; `RefitDelegateMixin` says why there is no model to answer with.
"""

from __future__ import annotations

import functools
import re

from sklearn.utils.validation import check_is_fitted

from ._validation import check_same_namespace

__all__ = ["RefitDelegateMixin", "refit_method"]


class RefitDelegateMixin:
    """The refitted model of a search, or the error that says why there is none.

    ``_estimator`` is the class of the model refitted as ``best_estimator_``. A
    search with a ``refit`` parameter has no model when it is False. With
    ``_namespace_attribute`` (a fitted attribute of the search), ``X`` must share
    its namespace and device, and the error names the search; None leaves the
    check to the refitted model.
    """

    _namespace_attribute = None

    def _refitted(self, method, X):
        check_is_fitted(self)
        if not getattr(self, "refit", True):
            raise AttributeError(
                f"{method} is not available with refit=False: nothing was refitted. "
                f"Set refit=True, or fit {self._estimator.__name__}(**best_params_).")
        if self._namespace_attribute is not None:
            check_same_namespace(X, self, attribute=self._namespace_attribute,
                                 method=method)
        return self.best_estimator_


def refit_method(model_class, name):
    """Method ``name`` of a search: that of its :attr:`best_estimator_`.

    Parameters
    ----------
    model_class : type
        The class of the refitted model.
    name : str
        A method of ``model_class`` whose first parameter is ``X``.

    Returns
    -------
    method : function
        A method for a class with `RefitDelegateMixin`. Its signature is the
        model's; its documentation is the model's, after one line that says
        which model answers.
    """
    model_method = getattr(model_class, name)

    @functools.wraps(model_method)
    def method(self, X, *args, **kwargs):
        return getattr(self._refitted(name, X), name)(X, *args, **kwargs)

    doc = model_method.__doc__
    # The model's summary becomes the second paragraph: indented as the rest.
    indent = re.search(r"\n( *)\S", doc).group(1)
    method.__doc__ = (f":meth:`{model_class.__name__}.{name}` of "
                      f":attr:`best_estimator_`.\n\n{indent}{doc}")
    return method
