"""Results as plain data: a JSON tree plus numeric arrays, and back, with no way for the data to run code.

:func:`encode` turns a value into ``(tree, arrays)``: ``tree`` holds only JSON types, ``arrays`` numeric, boolean
or fixed-width string numpy arrays (savable with ``np.savez`` and loadable with ``allow_pickle=False``).
Supported: None, bool, int, float (NaN and infinities included), str, list, tuple, dict, pathlib paths, numpy
arrays and scalars, pandas DataFrames and Series (with their ``attrs``), xarray Datasets, ArviZ InferenceData,
and dataclasses and named tuples defined in the bayesmeta package. Anything else raises :class:`TypeError`.

:func:`decode` rebuilds the value. A record is rebuilt only when its tagged name is a dataclass or named tuple
of the bayesmeta package; a dataclass's fields are set directly, so no constructor or other code chosen by the
data runs. A tampered tree can at worst produce wrong numbers, which the caller's checksum is there to catch.
Unknown tags raise :class:`ValueError`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import math
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import numpy as np

TAG = "$"  # a dict with this key is a tagged value; a plain dict with such a key is stored as pairs
PACKAGE = "bayesmeta"


class _Encoder:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, arr: np.ndarray) -> dict[str, Any]:
        arr = np.asarray(arr)
        if arr.dtype.kind in "biufc" or arr.dtype.kind == "U":
            name = f"a{len(self.arrays)}"
            self.arrays[name] = np.ascontiguousarray(arr)
            return {TAG: "ndarray", "ref": name}
        if arr.dtype.kind == "O":
            return {TAG: "objarray", "shape": list(arr.shape), "items": [self(v) for v in arr.ravel().tolist()]}
        raise TypeError(f"cannot store an array of dtype {arr.dtype}")

    def __call__(self, value: Any) -> Any:
        import pandas as pd

        if isinstance(value, enum.Enum):
            cls = type(value)
            if not _allowed_enum(cls):
                self._refuse(f"{cls.__module__}.{cls.__qualname__} is not a bayesmeta enum")
            return {TAG: "enum", "class": _name(cls), "value": value.value}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, np.integer):
            return value
        if isinstance(value, float) and not isinstance(value, np.floating):
            return value if math.isfinite(value) else {TAG: "float", "repr": repr(value)}
        if isinstance(value, np.generic):
            return {TAG: "scalar", "value": self.array(np.asarray(value))}
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            cls = type(value)
            if not _allowed(cls):
                self._refuse(f"{cls.__module__}.{cls.__qualname__} is not a bayesmeta named tuple")
            return {TAG: "namedtuple", "class": _name(cls), "items": [self(v) for v in value]}
        if isinstance(value, tuple):
            return {TAG: "tuple", "items": [self(v) for v in value]}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {k: self(v) for k, v in value.items()}
            return {TAG: "dict", "items": [[self(k), self(v)] for k, v in value.items()]}
        if isinstance(value, PurePath):
            return {TAG: "path", "value": str(value)}
        if value is pd.NA:
            return {TAG: "NA"}
        if isinstance(value, pd.DataFrame):
            return {TAG: "frame", "columns": [[str(c), self.series(value.iloc[:, i])]
                                              for i, c in enumerate(value.columns)],
                    "column_index": self.index(value.columns), "index": self.index(value.index),
                    "attrs": self(dict(value.attrs))}
        if isinstance(value, pd.Series):
            return {TAG: "series", "values": self.series(value), "index": self.index(value.index),
                    "name": self(value.name), "attrs": self(dict(value.attrs))}
        if type(value).__name__ == "InferenceData" and hasattr(value, "groups"):
            return {TAG: "idata", "groups": {g: self.dataset(value[g]) for g in value.groups()}}
        if type(value).__name__ == "Dataset" and type(value).__module__.startswith("xarray"):
            return self.dataset(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            cls = type(value)
            if not _allowed(cls):
                self._refuse(f"{cls.__module__}.{cls.__qualname__} is not a bayesmeta dataclass")
            return {TAG: "dataclass", "class": _name(cls),
                    "fields": {f.name: self(getattr(value, f.name)) for f in dataclasses.fields(value)}}
        return self._refuse(f"cannot store a {type(value).__module__}.{type(value).__qualname__}")

    @staticmethod
    def _refuse(message: str):
        raise TypeError(message)

    def series(self, s) -> dict[str, Any]:
        dtype = str(s.dtype)
        if s.dtype.kind in "biuf" and isinstance(s.dtype, np.dtype):
            return {"dtype": dtype, "values": self.array(s.to_numpy())}
        return {"dtype": dtype, "values": [self(v) for v in s.tolist()]}

    def index(self, index) -> dict[str, Any]:
        import pandas as pd

        if isinstance(index, pd.RangeIndex):
            return {"range": [index.start, index.stop, index.step], "name": self(index.name)}
        if isinstance(index, pd.MultiIndex):
            return {"multi": [self.series(index.get_level_values(i).to_series()) for i in range(index.nlevels)],
                    "names": [self(n) for n in index.names]}
        return {"values": self.series(index.to_series()), "name": self(index.name)}

    def dataset(self, ds) -> dict[str, Any]:
        def variable(v) -> dict[str, Any]:
            return {"dims": list(v.dims), "data": self.array(v.values), "attrs": self(dict(v.attrs))}

        return {TAG: "dataset", "data_vars": {str(k): variable(v) for k, v in ds.data_vars.items()},
                "coords": {str(k): variable(v) for k, v in ds.coords.items()}, "attrs": self(dict(ds.attrs))}


def _allowed(cls: type) -> bool:
    """A dataclass or named tuple defined in the bayesmeta package."""
    module = cls.__module__
    in_package = module == PACKAGE or module.startswith(PACKAGE + ".")
    named_tuple = issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make")
    return in_package and (dataclasses.is_dataclass(cls) or named_tuple)


def _allowed_enum(cls: type) -> bool:
    """An Enum defined in the bayesmeta package whose values are plain strings."""
    module = cls.__module__
    in_package = module == PACKAGE or module.startswith(PACKAGE + ".")
    return in_package and issubclass(cls, enum.Enum) and all(isinstance(m.value, str) for m in cls)


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """``(tree, arrays)`` for ``value`` (see the module docstring); raises TypeError for unsupported types."""
    enc = _Encoder()
    return enc(value), enc.arrays


def _package_class(name: str, allowed: Callable[[type], bool], what: str) -> type:
    """The class called ``name`` ('module:Class') of the bayesmeta package that ``allowed`` accepts; its module is
    imported from the installed package (a module name outside the package is refused before any import)."""
    module, _, qualname = name.partition(":")
    in_package = module == PACKAGE or module.startswith(PACKAGE + ".")
    if not in_package or not all(p.isidentifier() for p in module.split(".")) or not qualname.isidentifier():
        raise ValueError(f"not a bayesmeta {what}: {name!r}")
    cls = getattr(importlib.import_module(module), qualname, None)
    if not isinstance(cls, type) or not allowed(cls):
        raise ValueError(f"not a bayesmeta {what}: {name!r}")
    return cls


def _enum_class(name: str) -> type:
    return _package_class(name, _allowed_enum, "enum")


def _record_class(name: str) -> type:
    return _package_class(name, _allowed, "record type")


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def array(self, node: dict[str, Any]) -> np.ndarray:
        if node.get(TAG) == "objarray":
            items = np.empty(len(node["items"]), dtype=object)
            items[:] = [self(v) for v in node["items"]]
            return items.reshape(node["shape"])
        if node.get(TAG) != "ndarray" or node["ref"] not in self.arrays:
            raise ValueError("array reference missing")
        return self.arrays[node["ref"]]

    def __call__(self, node: Any) -> Any:
        import pandas as pd

        if isinstance(node, list):
            return [self(v) for v in node]
        if not isinstance(node, dict):
            return node
        tag = node.get(TAG)
        if tag is None:
            return {k: self(v) for k, v in node.items()}
        if tag == "float":
            if node["repr"] not in ("nan", "inf", "-inf"):
                raise ValueError(f"bad float {node['repr']!r}")
            return float(node["repr"])
        if tag == "scalar":
            return self.array(node["value"])[()]
        if tag in ("ndarray", "objarray"):
            return self.array(node)
        if tag == "tuple":
            return tuple(self(v) for v in node["items"])
        if tag == "dict":
            return {_hashable(self(k)): self(v) for k, v in node["items"]}
        if tag == "path":
            from pathlib import Path

            return Path(node["value"])
        if tag == "NA":
            return pd.NA
        if tag == "frame":
            index = self.index(node["index"])
            frame = pd.DataFrame({i: self.series(values) for i, (_, values) in enumerate(node["columns"])},
                                 index=index)
            frame.columns = self.index(node["column_index"])
            frame.attrs = self(node["attrs"])
            return frame
        if tag == "series":
            s = pd.Series(self.series(node["values"]), index=self.index(node["index"]), name=self(node["name"]))
            s.attrs = self(node["attrs"])
            return s
        if tag == "idata":
            import arviz as az

            return az.InferenceData(**{g: self.dataset(ds) for g, ds in node["groups"].items()})
        if tag == "dataset":
            return self.dataset(node)
        if tag == "namedtuple":
            cls = _record_class(node["class"])
            if dataclasses.is_dataclass(cls):
                raise ValueError(f"{node['class']} is not a named tuple")
            return cls._make(self(v) for v in node["items"])
        if tag == "enum":
            cls = _enum_class(node["class"])
            return cls(str(node["value"]))
        if tag == "dataclass":
            cls = _record_class(node["class"])
            if not dataclasses.is_dataclass(cls):
                raise ValueError(f"{node['class']} is not a dataclass")
            names = {f.name for f in dataclasses.fields(cls)}
            if set(node["fields"]) != names:
                raise ValueError(f"fields of {node['class']} do not match")
            obj = object.__new__(cls)
            for name, value in node["fields"].items():
                object.__setattr__(obj, name, self(value))
            return obj
        raise ValueError(f"unknown tag {tag!r}")

    def series(self, node: dict[str, Any]):
        import pandas as pd

        values = node["values"]
        values = self.array(values) if isinstance(values, dict) else [self(v) for v in values]
        return pd.array(values, dtype=node["dtype"]) if node["dtype"] != "object" else _objects(values)

    def index(self, node: dict[str, Any]):
        import pandas as pd

        if "range" in node:
            return pd.RangeIndex(*node["range"], name=self(node["name"]))
        if "multi" in node:
            return pd.MultiIndex.from_arrays([self.series(level) for level in node["multi"]],
                                            names=[self(n) for n in node["names"]])
        return pd.Index(self.series(node["values"]), name=self(node["name"]))

    def dataset(self, node: dict[str, Any]):
        import xarray as xr

        if node.get(TAG) != "dataset":
            raise ValueError("not a dataset")

        def variable(v):
            return xr.Variable(v["dims"], self.array(v["data"]), attrs=self(v["attrs"]))

        return xr.Dataset({k: variable(v) for k, v in node["data_vars"].items()},
                          coords={k: variable(v) for k, v in node["coords"].items()}, attrs=self(node["attrs"]))


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value :func:`encode` turned into ``(tree, arrays)``; ValueError for a malformed tree."""
    try:
        return _Decoder(arrays)(tree)
    except (KeyError, TypeError, AttributeError, ImportError, RecursionError) as exc:
        raise ValueError(f"malformed plain-data tree: {exc!r}") from exc
