"""Load a dataset (by URI: training/sources.py) and split it into a reproducible train/holdout pair."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from training.config import ConfigError, TrainConfig
from training.sources import DownloadLimits, ResolvedSource, SourceKind, resolve

# Only datasets shipped inside scikit-learn: loading must never touch the network.
BUNDLED: dict[str, Callable[..., Bunch]] = {
    "breast_cancer": sk_datasets.load_breast_cancer,
    "wine": sk_datasets.load_wine,
    "iris": sk_datasets.load_iris,
    "digits": sk_datasets.load_digits,
}


@dataclass(frozen=True)
class Dataset:
    """Features and target, plus where they came from (for lineage)."""

    name: str
    source: str
    features: pd.DataFrame
    target: pd.Series
    target_name: str
    origin: ResolvedSource | None = None
    """What the dataset URI resolved to when it was read (None: built in memory, e.g. by a test)."""

    @property
    def frame(self) -> pd.DataFrame:
        """Features and target in one frame (what MLflow's dataset lineage records)."""
        return self.features.assign(**{self.target_name: self.target.to_numpy()})


@dataclass(frozen=True)
class Split:
    """Training and holdout partitions."""

    x_train: pd.DataFrame
    x_holdout: pd.DataFrame
    y_train: pd.Series
    y_holdout: pd.Series


def load_dataset(cfg: TrainConfig) -> Dataset:
    """Whatever cfg.dataset names, read into memory; ConfigError names what is wrong."""
    limits = DownloadLimits(cfg.download_timeout_seconds, cfg.max_download_bytes)
    # A download lives only while it is parsed: the frame is in memory afterwards.
    with tempfile.TemporaryDirectory(prefix="mlops-dataset-") as scratch:
        origin = resolve(cfg.dataset, Path(scratch), limits)
        if origin.kind is SourceKind.BUNDLED:
            bunch = BUNDLED[cfg.dataset.strip()](as_frame=True)
            return Dataset(
                name=origin.name,
                source=origin.location,
                features=bunch.data,
                target=bunch.target,
                target_name="target",
                origin=origin,
            )
        assert origin.path is not None  # every non-bundled source is a local file by now
        dataset = load_csv(origin.path, cfg.target_column)
    return Dataset(
        name=origin.name,
        source=origin.location,
        features=dataset.features,
        target=dataset.target,
        target_name=dataset.target_name,
        origin=origin,
    )


def load_csv(path: Path, target_column: str | None) -> Dataset:
    """A CSV file as features and target, refusing what training cannot use (ConfigError names it)."""
    if not target_column:
        raise ConfigError("--target-column/MLOPS_TARGET_COLUMN: is required for a CSV dataset")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--dataset/MLOPS_DATASET: cannot parse {str(path)!r} as CSV ({exc})") from None
    if target_column not in frame.columns:
        raise ConfigError(
            f"--target-column/MLOPS_TARGET_COLUMN: column {target_column!r} not in {path.name} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    features = frame.drop(columns=[target_column])
    non_numeric = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ConfigError(f"dataset {path.name}: non-numeric feature column(s): {', '.join(non_numeric)}")
    if features.shape[1] == 0:
        raise ConfigError(f"dataset {path.name}: no feature columns besides {target_column!r}")
    if features.isna().any().any():
        missing = [str(c) for c in features.columns if features[c].isna().any()]
        raise ConfigError(f"dataset {path.name}: missing values in feature column(s): {', '.join(missing)}")
    target = frame[target_column]
    if target.isna().any():
        raise ConfigError(f"dataset {path.name}: missing values in target column {target_column!r}")
    return Dataset(
        name=path.stem,
        source=str(path.resolve()),
        features=features.astype(float),
        target=target,
        target_name=target_column,
    )


def split(dataset: Dataset, cfg: TrainConfig) -> Split:
    """Stratified where every class has at least two rows; seeded so the holdout is the same each run."""
    counts = dataset.target.value_counts()
    if len(counts) < 2:
        raise ConfigError(
            f"dataset {dataset.name}: the target needs at least two classes (found {len(counts)})"
        )
    stratify = dataset.target if counts.min() >= 2 else None
    try:
        x_train, x_holdout, y_train, y_holdout = train_test_split(
            dataset.features,
            dataset.target,
            test_size=cfg.test_size,
            random_state=cfg.random_seed,
            stratify=stratify,
        )
    except ValueError as exc:
        raise ConfigError(
            f"dataset {dataset.name}: cannot split with --test-size {cfg.test_size}: {exc}"
        ) from None
    return Split(x_train=x_train, x_holdout=x_holdout, y_train=y_train, y_holdout=y_holdout)
