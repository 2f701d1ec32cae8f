"""Ranking metrics against torchmetrics', the NCF networks, and the task's predict and RMSE."""

import csv
import math
from pathlib import Path

import pytest
import torch
from torchmetrics.retrieval import RetrievalHitRate, RetrievalNormalizedDCG

from src.experiments.predict import predict
from src.experiments.train import train
from src.modules.ranking import NDCG, HitRate, RatingRMSE
from src.networks.ncf import GMF, MLP, NeuMF, Popularity
from tests.conftest import Compose
from tests.data.fakes import own_data


def one_relevant(rows: int, candidates: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(rows, candidates, generator=g)
    target = torch.zeros(rows, candidates)
    target[torch.arange(rows), torch.randint(candidates, (rows,), generator=g)] = 1.0
    return scores, target


@pytest.mark.parametrize("k", [1, 10])
def test_hr_and_ndcg_equal_torchmetrics_retrieval_metrics(k: int) -> None:
    ours = {"hr": HitRate(k), "ndcg": NDCG(k)}
    theirs = {"hr": RetrievalHitRate(top_k=k), "ndcg": RetrievalNormalizedDCG(top_k=k)}
    for batch in range(3):
        scores, target = one_relevant(32, 100, seed=batch)
        indexes = torch.arange(32)[:, None].expand(32, 100) + 32 * batch
        for name in ours:
            ours[name].update(scores, target)
            theirs[name].update(
                scores.flatten(), target.flatten().long(), indexes=indexes.flatten()
            )
    for name in ours:
        assert float(ours[name].compute()) == pytest.approx(float(theirs[name].compute()), abs=1e-6)


def test_ties_count_against_the_relevant_item() -> None:
    _, target = one_relevant(8, 100, seed=0)
    flat = torch.zeros(8, 100)  # a model that has learned nothing
    hr, ndcg = HitRate(10), NDCG(10)
    hr.update(flat, target)
    ndcg.update(flat, target)
    assert float(hr.compute()) == 0.0 and float(ndcg.compute()) == 0.0


def test_rmse_is_over_the_rated_items_only() -> None:
    rmse = RatingRMSE()
    rmse.update(torch.tensor([[4.0, 9.0], [1.0, -5.0]]), torch.tensor([[5.0, 0.0], [2.0, 0.0]]))
    assert float(rmse.compute()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "net", [GMF(7, 11, 4), MLP(7, 11, [16, 8]), NeuMF(7, 11, 4, [16, 8]), Popularity(11)]
)
def test_networks_score_every_candidate(net: torch.nn.Module) -> None:
    scores = net(user=torch.tensor([0, 6]), item=torch.randint(11, (2, 5)))
    assert scores.shape == (2, 5) and scores.requires_grad


def test_predict_writes_the_top_k_unseen_items_of_each_user(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    files = own_data("movielens", tmp_path)
    base = ["experiment=movielens_neumf", *files, "logger=none"]
    trained = train(compose_cfg(*base))
    cfg = compose_cfg(
        *base, "mode=predict", f"ckpt_path={trained['best_checkpoint']}", "predict.split=all",
        "model.top_k=5", run_dir=tmp_path / "predict",
    )  # fmt: skip
    assert predict(cfg)["rows"] == 40  # every user of the file
    rows = list(csv.DictReader((tmp_path / "predict" / "predictions.csv").open()))
    items = [[int(r[f"item_{j}"]) for j in range(5)] for r in rows]
    assert all(len(set(top)) == 5 for top in items)
    assert all(r["held_out"] == "-1" for r in rows)  # split all: nothing held out
    scores = [[float(r[f"score_{j}"]) for j in range(5)] for r in rows]
    assert all(s == sorted(s, reverse=True) for s in scores)  # best first
    # never an item the user already rated (items by index in sorted order of the raw ids)
    from src.data.interaction_sources import read_movielens

    data = read_movielens(files[0].split("=", 1)[1], "ml-1m")
    seen = {(int(u), int(i)) for u, i in zip(data.user, data.item, strict=True)}
    assert not any(
        (int(r["user"]), i) in seen for r, top in zip(rows, items, strict=True) for i in top
    )


def test_explicit_ratings_are_regressed_and_scored_by_rmse(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    overrides = [
        "experiment=movielens_neumf", *own_data("movielens", tmp_path), "logger=none",
        "dataset.feedback=explicit", "dataset.train_negatives=0",
        "+model.metrics.rmse={_target_:src.modules.ranking.RatingRMSE}",
        "optimized_metric=val/rmse", "optimized_mode=min",
    ]  # fmt: skip
    metrics = train(compose_cfg(*overrides))
    # an untrained net predicts ~0 for ratings of 1-5: the RMSE is about their RMS (~3.3)
    assert 1.0 < metrics["test/rmse"] < 5.0 and math.isfinite(metrics["test/loss"])


def test_full_ranking_with_popularity_negatives_trains(compose_cfg: Compose) -> None:
    overrides = [
        "experiment=recsys_neumf", "logger=none", "dataset.source.num_users=100",
        "dataset.protocol=full", "dataset.negative_sampling=popularity",
    ]  # fmt: skip
    metrics = train(compose_cfg(*overrides))
    # the held-out item among the ~480 items each user has not seen: a near-untrained model
    # ranks it in the top 10 rarely
    assert 0.0 <= metrics["test/hr@10"] < 0.5 and math.isfinite(metrics["val/loss"])
