"""The CrossScenarioRanker's learned ranker: LightGBM LambdaRank over candidate features.

One ranker per target scenario, trained on the candidates of that scenario's label users (a
user whose held-out item is not among the candidates teaches nothing and is left out), with
early stopping on other label users. Saved as LightGBM's own text model format, which
loads without executing code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from scenerec.models.flagship.config import RankerConfig
from scenerec.schema import FloatMatrix, IdxArray

log = logging.getLogger(__name__)
BoolArray = npt.NDArray[np.bool_]


@dataclass
class TrainedRanker:
    """A trained booster and what its training measured."""

    booster: lgb.Booster
    best_iteration: int
    valid_ndcg: float

    def predict(self, features: FloatMatrix) -> FloatMatrix:
        out: FloatMatrix = np.asarray(
            self.booster.predict(features, num_iteration=self.best_iteration), np.float32
        )
        return out

    def contributions(self, features: FloatMatrix) -> FloatMatrix:
        """(N, F) per-feature contributions to each prediction (SHAP values; bias dropped)."""
        out = self.booster.predict(features, num_iteration=self.best_iteration, pred_contrib=True)
        return np.asarray(out, np.float32)[:, :-1]

    def to_bytes(self) -> npt.NDArray[np.uint8]:
        text = self.booster.model_to_string(num_iteration=self.best_iteration)
        return np.frombuffer(text.encode("utf-8"), np.uint8).copy()

    @classmethod
    def from_bytes(cls, raw: npt.NDArray[np.uint8], valid_ndcg: float) -> TrainedRanker:
        booster = lgb.Booster(model_str=bytes(raw).decode("utf-8"))
        return cls(booster, booster.current_iteration(), valid_ndcg)


@dataclass
class RankingSet:
    """Candidates of several queries (users) with their labels.

    Attributes:
        features: (N, F) grouped by query (each query's candidates contiguous).
        labels: (N,) float32, 1 at the query's held-out item.
        group: (n_queries,) candidates per query.
    """

    features: FloatMatrix
    labels: npt.NDArray[np.float32]
    group: IdxArray


def train_ranker(
    train: RankingSet,
    valid: RankingSet,
    names: list[str],
    cfg: RankerConfig,
    *,
    seed: int,
    threads: int,
) -> TrainedRanker:
    """Train with early stopping on ``valid`` (queries without a positive are left out)."""
    params = {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [50, 10],
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_child_samples,
        "bagging_fraction": cfg.subsample,
        "bagging_freq": 1 if cfg.subsample < 1 else 0,
        "feature_fraction": cfg.colsample_bytree,
        "lambda_l2": cfg.reg_lambda,
        "lambdarank_truncation_level": 20,
        "num_threads": threads,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    datasets = [
        lgb.Dataset(
            r.features, r.labels, group=r.group, feature_name=_safe(names), free_raw_data=True
        )
        for r in (train, valid)
    ]
    booster = lgb.train(
        params,
        datasets[0],
        num_boost_round=cfg.n_estimators,
        valid_sets=[datasets[1]],
        callbacks=[lgb.early_stopping(cfg.early_stopping, first_metric_only=True, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    score = booster.best_score.get("valid_0", {}).get("ndcg@50", float("nan"))
    log.info("ranker: %d rounds, validation NDCG@50 %.4f (label in the candidates)", best, score)
    return TrainedRanker(booster, best, float(score))


def _safe(names: list[str]) -> list[str]:
    """LightGBM feature names may not hold JSON special characters."""
    return ["".join(c if c.isalnum() or c == "_" else "_" for c in n) for n in names]


__all__ = ["RankingSet", "TrainedRanker", "train_ranker"]
