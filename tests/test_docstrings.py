"""Every public parameter is documented (numpydoc), as scikit-learn and skglm check."""

import importlib
import inspect
import pkgutil

import numpydoc.validate as numpydoc_validate
import pytest

import rkhsmtl

# PR01: a parameter is not documented; PR02: a documented parameter does not exist;
# PR07: a parameter has no description.
CHECKED = {"PR01", "PR02", "PR07"}


def _public_modules():
    yield rkhsmtl
    for info in pkgutil.walk_packages(rkhsmtl.__path__, "rkhsmtl."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        yield importlib.import_module(info.name)


def _public_objects():
    seen = set()
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            path = f"{obj.__module__}.{obj.__qualname__}"
            if path in seen or not obj.__module__.startswith("rkhsmtl"):
                continue
            seen.add(path)
            yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj):
                # Public methods written in rkhsmtl, inherited from our mixins too
                # (scikit-learn's own, e.g. get_params, are not ours to check).
                for attr, member in inspect.getmembers(obj, inspect.isfunction):
                    if attr.startswith("_") or not member.__module__.startswith(
                            "rkhsmtl"):
                        continue
                    yield f"{module.__name__}.{name}.{attr}", member


OBJECTS = sorted(dict(_public_objects()))


def test_the_public_api_is_found():
    assert "rkhsmtl.MultiTaskKernelRidge.fit" in OBJECTS
    assert len(OBJECTS) > 50


@pytest.mark.parametrize("path", OBJECTS)
def test_parameters_are_documented(path):
    result = numpydoc_validate.validate(path)
    errors = [f"{code}: {message}" for code, message in result["errors"]
              if code in CHECKED]
    assert not errors, f"{path}:\n" + "\n".join(errors)
