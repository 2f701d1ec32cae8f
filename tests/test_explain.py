"""mode=explain: attributions and their files, faithfulness on digits and breast cancer, token
attributions through an embedding, Grad-CAM on a model without a convolution."""

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from src.config.compose import compose_config
from src.errors import ConfigError
from src.experiments.explain import explain
from src.experiments.train import train
from src.explain import figures
from src.explain.subject import subject_of
from tests.conftest import DATA_DIR, FAST, Compose

QUICK = [*FAST[:1], "++callbacks.progress_bar=null", "print_config=false"]


def _trained(root: Path, *overrides: str) -> str:
    base = [f"paths.log_dir={root / 'outputs'}", f"paths.data_dir={DATA_DIR}", *QUICK]
    metrics = train(compose_config([*base, *overrides], root / "train"))
    return str(metrics["best_checkpoint"])


def _explain(root: Path, ckpt: str, *overrides: str) -> tuple[dict[str, Any], Path]:
    base = [f"paths.log_dir={root / 'outputs'}", f"paths.data_dir={DATA_DIR}", *QUICK]
    cfg = compose_config([*base, "mode=explain", f"ckpt_path={ckpt}", *overrides], root / "exp")
    return explain(cfg), root / "exp"


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("digits")
    return root, _trained(root, "experiment=digits_cnn", "trainer.max_epochs=4")


@pytest.mark.slow
def test_digits_attributions_are_drawn_and_deleting_them_drops_confidence_fastest(
    digits_ckpt: tuple[Path, str],
) -> None:
    root, ckpt = digits_ckpt
    metrics, run = _explain(
        root, ckpt, "experiment=digits_cnn", "explain.samples=3", "explain.ig_steps=16"
    )
    info = json.loads((run / "explanations" / "attributions.json").read_text())
    assert info["kind"] == "image"
    assert info["methods"] == ["integrated_gradients", "saliency", "grad_cam", "occlusion"]
    first = info["samples"][0]
    assert (run / "explanations" / first["figure"]).stat().st_size > 0
    assert first["top_features"]["grad_cam"][0]["feature"].startswith("pixel(")
    # the top-attributed pixels carry the class: deleting them costs far more than random ones
    top, random = info["deletion"]["top"], info["deletion"]["random"]
    assert top[2] < random[2] - 0.2  # 20 % of the pixels deleted
    assert metrics["explain/deletion_top_mean"] < metrics["explain/deletion_random_mean"] - 0.2
    summary = (root / "train" / "model_summary.txt").read_text()
    assert "net.features.0" in summary and "Conv2d" in summary and "[64, 1, 8, 8]" in summary


@pytest.mark.slow
def test_breast_cancer_top_features_matter_far_more_than_the_bottom_ones(tmp_path: Path) -> None:
    ckpt = _trained(tmp_path, "experiment=breast_cancer_mlp", "trainer.max_epochs=10")
    metrics, run = _explain(tmp_path, ckpt, "experiment=breast_cancer_mlp", "explain.samples=2")
    clean = metrics["explain/acc"]
    lost_top = clean - metrics["explain/acc_without_top10"]
    lost_bottom = clean - metrics["explain/acc_without_bottom10"]
    assert clean > 0.9
    assert lost_top > 0.08 and lost_top > lost_bottom + 0.08
    info = json.loads((run / "explanations" / "attributions.json").read_text())
    assert "permutation" in info["methods"] and len(info["permutation_importance"]) == 30
    assert (run / "explanations" / "permutation_importance.png").stat().st_size > 0


def test_grad_cam_on_a_model_without_a_convolution_is_named(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    ckpt = train(compose_cfg("model=mlp"))["best_checkpoint"]
    cfg = compose_cfg(
        "model=mlp", "mode=explain", f"ckpt_path={ckpt}", "explain.methods=[grad_cam]"
    )
    with pytest.raises(ConfigError, match=r"explain\.methods='grad_cam'.*Conv2d.*Fix"):
        explain(cfg)


class _BagOfTokens(nn.Module):
    """Mean of the first ``lengths`` token embeddings -> 2 logits: a stand-in for the text
    classifiers, which take (tokens, lengths)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = torch.arange(tokens.shape[1])[None] < lengths[:, None]  # (B, T)
        pooled = (self.embed(tokens) * mask[..., None]).sum(1) / lengths[:, None]
        return self.head(pooled)


def test_token_ids_are_attributed_through_the_embedding(tmp_path: Path) -> None:
    model = _BagOfTokens()
    with torch.no_grad():  # token 7 alone pushes towards class 1; every other token is neutral
        model.embed.weight.zero_()
        model.embed.weight[7] = torch.tensor([5.0, 0, 0, 0])
        model.head.weight.copy_(torch.tensor([[-1.0, 0, 0, 0], [1.0, 0, 0, 0]]))
        model.head.bias.zero_()
    tokens = torch.tensor([[1, 2, 7, 3, 0], [7, 4, 4, 0, 0]])
    batch = {"tokens": tokens, "lengths": torch.tensor([4, 3]), "target": torch.tensor([1, 1])}
    subject = subject_of(model, {}, batch, "predicted")
    assert subject.name == "tokens" and subject.kind == "tokens"  # not the lengths
    opts = type("Opts", (), {"layer": None, "ig_steps": 8, "window": 1})()
    scores = subject.attribute("integrated_gradients", 2, opts)
    assert scores.shape == (2, 5)
    assert scores.argmax(1).tolist() == [2, 0]  # the position of token 7
    page = figures.token_html([("a", ["a", "b", "c", "d", "e"], scores[0])], tmp_path / "t.html")
    assert "rgba(0,160,0,1.00)" in page.read_text()  # token 7: the strongest, for the class
