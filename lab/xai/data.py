"""Datasets for attribution: scikit-learn's bundled ones and a user's CSV.

Splits are seeded and stratified (train / validation / test); scaling (standardization) is
fitted on the training rows only, so zero in model space is the training mean: the default
attribution baseline. Feature names travel with the data.
"""

from __future__ import annotations

import csv
import io
import functools
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.errors import BadInput, one_line
from lab.files import open_regular


@dataclass
class Dataset:
    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    image_shape: tuple[int, ...] | None = None  # (channels, height, width) for images
    mean: np.ndarray = field(default=None)
    std: np.ndarray = field(default=None)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.image_shape or (len(self.feature_names),)

    @property
    def baseline(self) -> np.ndarray:
        """The training mean, in model space: zeros."""
        return np.zeros(self.input_shape, dtype=np.float32)


def _sklearn(loader_name: str):
    def load(spec, source):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        names = [str(n) for n in bunch.feature_names]
        classes = [str(c) for c in bunch.target_names]
        return bunch.data.astype(np.float64), bunch.target.astype(np.int64), names, classes
    return load


def _digits(spec, source):
    import sklearn.datasets

    bunch = sklearn.datasets.load_digits()
    names = [f"pixel ({r},{c})" for r in range(8) for c in range(8)]
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64), names, [str(d) for d in range(10)]


_MISSING = {"", "na", "nan", "null", "none", "?"}
# A CSV is read whole into memory (about 10x its size as Python values): past this, sample it first.
MAX_CSV_BYTES = int(float(os.environ.get("LAB_MAX_CSV_MB", "200")) * 2**20)


def _csv(spec, source):
    if not spec.data.path or not spec.data.target:
        raise BadInput(f"{source}: data: dataset 'csv' needs path = \"file.csv\" and target = \"column\"")
    path = Path(spec.data.path)
    if not path.is_absolute() and source not in ("<dict>",):
        path = (Path(source).parent / path) if not path.exists() else path
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BadInput(f"{source}: data.path: {path} is not a regular file (a device, pipe or folder); give a CSV file")
        if info.st_size > MAX_CSV_BYTES:
            raise BadInput(f"{source}: data.path: {path} is {info.st_size / 2**20:,.0f} MiB; lab reads CSV files up to "
                           f"{MAX_CSV_BYTES / 2**20:,.0f} MiB (set LAB_MAX_CSV_MB to raise the limit, or sample the rows)")
        rows = _read_rows(str(path), info.st_mtime_ns, info.st_size)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise BadInput(f"{source}: data.path: cannot read {path} ({getattr(e, 'strerror', None) or e})") from None
    if len(rows) < 2:
        raise BadInput(f"{source}: data.path: {path} has no data rows")
    header = [h.strip() for h in rows[0]]
    if spec.data.target not in header:
        from lab.errors import did_you_mean

        raise BadInput(f"{source}: data.target: no column '{spec.data.target}' in {path}{did_you_mean(spec.data.target, header)}"
                       f" (columns: {', '.join(header)})")
    t = header.index(spec.data.target)
    features = [h for i, h in enumerate(header) if i != t]
    X = np.empty((len(rows) - 1, len(features)))
    labels = []
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BadInput(f"{path}: line {r}: {len(row)} values, the header has {len(header)}")
        labels.append(row[t].strip())
        if labels[-1].lower() in _MISSING:
            raise BadInput(f"{path}: line {r}, column '{header[t]}': missing target value; drop or fill the row")
        j = 0
        for i, cell in enumerate(row):
            if i == t:
                continue
            text = cell.strip()
            if text.lower() in _MISSING:
                raise BadInput(f"{path}: line {r}, column '{header[i]}': missing value; fill or drop it (lab does not impute)")
            try:
                X[r - 2, j] = float(text)
            except ValueError:
                raise BadInput(f"{path}: line {r}, column '{header[i]}': non-numeric value {text!r};"
                               " encode categories as numbers first") from None
            if not math.isfinite(X[r - 2, j]):
                raise BadInput(f"{path}: line {r}, column '{header[i]}': value {text!r} is not finite")
            j += 1
    classes = sorted(set(labels), key=lambda c: (not _is_number(c), float(c) if _is_number(c) else 0, c))
    if len(classes) < 2:
        raise BadInput(f"{path}: column '{spec.data.target}' has one class only; a classifier needs two or more")
    index = {c: i for i, c in enumerate(classes)}
    return X, np.array([index[c] for c in labels], dtype=np.int64), features, classes


@functools.lru_cache(maxsize=2)
def _read_rows(path: str, mtime_ns: int, size: int) -> tuple[list[str], ...]:
    """The file's rows, read once per version of the file (validation, the plan and the job all
    need them; a large CSV is slow to parse)."""
    with io.TextIOWrapper(open_regular(path), encoding="utf-8", newline="") as f:
        return tuple(csv.reader(f))


def dimensions(spec) -> tuple[tuple[int, ...], int]:
    """((features,) or (channels, height, width), classes) of the spec's dataset, unsplit."""
    entry = DATASETS[spec.data.dataset]
    X, _, _, classes = entry.load(spec, spec.source)
    return entry.image_shape or (X.shape[1],), len(classes)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class DatasetEntry:
    """A row of DATASETS: what `data.dataset` names."""

    name: str
    load: Callable  # (spec, source) -> (X, y, feature names, class names): the rows unsplit and unscaled
    description: str
    image_shape: tuple[int, ...] | None = None  # (channels, height, width) of an image dataset; None: tabular rows
    from_file: bool = False  # read from the user's file (data.path): read whole when the experiment loads, to check it

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None


# the one table of datasets; validation, the attribution job and the docs read it
DATASETS: dict[str, DatasetEntry] = {d.name: d for d in (
    DatasetEntry("breast_cancer", _sklearn("load_breast_cancer"), "569 tumours, 30 features, benign/malignant (scikit-learn)"),
    DatasetEntry("wine", _sklearn("load_wine"), "178 wines, 13 chemical features, 3 cultivars (scikit-learn)"),
    DatasetEntry("iris", _sklearn("load_iris"), "150 flowers, 4 features, 3 species (scikit-learn)"),
    DatasetEntry("digits", _digits, "1,797 handwritten digits as 8x8 images, 10 classes (scikit-learn)", image_shape=(1, 8, 8)),
    DatasetEntry("csv", _csv, "a CSV file of numbers with a header row: set path and target", from_file=True),
)}


def load_dataset(spec) -> Dataset:
    """The spec's dataset, split (seeded, stratified) and scaled on the training rows."""
    from sklearn.model_selection import train_test_split

    entry = DATASETS[spec.data.dataset]
    X, y, names, classes = entry.load(spec, spec.source)
    image_shape = entry.image_shape
    min_class = np.bincount(y).min()
    stratify = y if min_class >= 3 else None
    try:
        X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=spec.data.test_fraction, random_state=spec.seed, stratify=stratify)
        X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=spec.data.validation_fraction,
                                                          random_state=spec.seed, stratify=y_rest if stratify is not None else None)
    except ValueError as e:  # too few rows for the split (sklearn says which part comes out empty)
        raise BadInput(f"{spec.source}: data: {len(X)} rows cannot be split into train, validation and test rows with "
                       f"test_fraction {spec.data.test_fraction} and validation_fraction {spec.data.validation_fraction} "
                       f"({one_line(e)}); give more rows") from None
    if len(X_train) < 2:
        raise BadInput(f"{spec.source}: data: {len(X)} rows leave {len(X_train)} for training; give more rows")
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std < 1e-8] = 1.0  # constant features (corner pixels) stay at zero

    def scale(a):
        out = ((a - mean) / std).astype(np.float32)
        return out.reshape(len(a), *image_shape) if image_shape else out

    return Dataset(spec.data.dataset, scale(X_train), y_train, scale(X_val), y_val, scale(X_test), y_test,
                   names, classes, image_shape, mean.astype(np.float32), std.astype(np.float32))
