"""Ranking by predicted value: an ask is evaluated best predicted first (undecodable rows last), so a
budget that ends inside a round, or a screen that keeps a share of it, spends on its most promising
proposals.

The predictor is the strategy's (a latent optimizer's surrogate: NAO's performance predictor, Luo
et al., NeurIPS 2018; BO's Gaussian process); without one the ask keeps the strategy's order.
"""

from __future__ import annotations

import torch

from archlatent.stages.base import STAGES, Ask, Context, Stage


@STAGES.register("rank")
class Rank(Stage):
    """Order the ask best predicted first (undecodable rows last).

    The predicted losses are ``Ask.scores`` when a stage computed them, else the strategy's
    predictor's; ties keep their order."""

    def __call__(self, ask: Ask, ctx: Context) -> Ask:
        scores = ask.scores
        if scores is None:
            valid = [i for i, g in enumerate(ask.genotypes) if g is not None]
            predicted = ctx.predict([ask.genotypes[i] for i in valid]) if ctx.predict is not None and valid else None  # type: ignore[misc]
            if predicted is None:
                return ask
            scores = torch.full((len(ask.genotypes),), torch.inf)
            scores[valid] = predicted
        ask.order = scores.argsort(stable=True).tolist()
        return ask
