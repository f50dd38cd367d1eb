"""Zero-cost proxies: scores of an untrained network that rank architectures without training them.

Each proxy takes a freshly initialized network (which it may change: pass a copy) and, when it is
data-dependent, one batch ``(x, y)`` of images and labels; it returns one float. The definitions
follow the papers; where a detail is ours it says so.

* ``synflow`` (Tanaka et al., "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS 2020): with every weight replaced by its absolute value and an all-ones
  input, R = sum of the logits; score = sum over Conv2d and Linear weights of |theta * dR/dtheta|.
  Data-free. As in Abdelfattah et al.'s NAS-Bench-201 measurements ("Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021) it runs in float64 (the products overflow float32), on one input
  of shape [1, 3, H, W], scoring weights only (not biases). BatchNorm: ours runs the network in
  eval mode at initialization, where every BatchNorm is the identity up to 1 / sqrt(1 + eps)
  (running mean 0, variance 1, |gamma| = 1, |beta| = 0); their code replaces BatchNorm by the
  identity in the cells, stem and head but keeps it (in training mode) in NB201's two residual
  reduction blocks, and their NB201 cells use biased convolutions without BatchNorm affine (ours
  are the benchmark's bias-free convolutions with affine BatchNorm). A cell with no input->output
  path scores 0, the minimum.
* ``snip`` (Lee et al., "SNIP: Single-shot network pruning based on connection sensitivity", ICLR
  2019): L = cross-entropy of the batch (training mode); score = sum over Conv2d and Linear weights
  of |theta * dL/dtheta| (the connection sensitivities, summed as Abdelfattah et al. do).
* ``grad_norm`` (Abdelfattah et al. 2021): sum over Conv2d and Linear layers of the Euclidean norm
  of dL/dW, L as for snip.
* ``jacov`` (Mellor et al., "Neural Architecture Search without Training", arXiv v1 2020 / ICML
  2021): J = gradients of the summed logits with respect to each input image (one row per image);
  with lambda the eigenvalues of J's row correlation matrix and k = 1e-5, score =
  -sum(log(lambda + k) + 1 / (lambda + k)). A row without variation (an image the output does not
  depend on: no input->output path) makes the correlation undefined; ours scores such a network
  with the proxy's minimum over correlation matrices, that of a rank-one matrix (one eigenvalue B,
  the rest 0, for a batch of B).
* ``nwot`` (Mellor et al., ICML 2021): c_i = the binary code of which ReLU inputs are positive for
  image i, over every ReLU of the network; K_ij = number of units where c_i and c_j agree; score =
  log |det K| (training mode, no gradients). K is an integer positive semi-definite matrix, so a
  nonsingular one has det >= 1; ours scores a singular K (two images with the same code, as in a
  network with no input->output path) 0, the bottom of that scale.
* ``params`` (million trainable parameters, `count_params_mb`) and ``flops`` (million
  multiply-accumulates of the Conv2d and Linear layers for one image, `count_flops_m`): data-free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from archlatent.oneshot.nets import count_flops_m, count_params_mb

#: A batch of normalized images [B, 3, H, W] and their labels [B].
Batch = tuple[torch.Tensor, torch.Tensor]
#: k of jacov's score (Mellor et al.).
JACOV_K = 1e-5


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network's logits (the first of a ``(logits, aux_logits)`` pair)."""
    out = net(x)
    return out[0] if isinstance(out, tuple) else out


def _weighted(net: nn.Module) -> Iterator[nn.Module]:
    """The Conv2d and Linear layers: those whose weights the gradient proxies score."""
    return (m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def _loss_gradients(net: nn.Module, batch: Batch) -> None:
    """Backpropagate the batch's cross-entropy into the weights (training mode, gradients cleared first)."""
    x, y = batch
    net.train()
    net.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(_logits(net, x), y).backward()


def synflow(net: nn.Module, image_shape: tuple[int, int, int], device: torch.device) -> float:
    """Synaptic flow of `net` (see the module docstring). Changes `net` (float64, absolute weights)."""
    net = net.to(device=device, dtype=torch.float64).eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    net.zero_grad(set_to_none=True)
    _logits(net, torch.ones(1, *image_shape, dtype=torch.float64, device=device)).sum().backward()
    return _sensitivity(net)


def _sensitivity(net: nn.Module) -> float:
    """Sum over the Conv2d and Linear weights of |theta * gradient| (synflow's and snip's sum)."""
    with torch.no_grad():
        return float(sum(float((m.weight * m.weight.grad).abs().sum()) for m in _weighted(net) if m.weight.grad is not None))


def snip(net: nn.Module, batch: Batch) -> float:
    """SNIP connection sensitivity of `net` summed over its weights (module docstring)."""
    _loss_gradients(net, batch)
    return _sensitivity(net)


def grad_norm(net: nn.Module, batch: Batch) -> float:
    """Sum of the per-layer gradient norms of the batch's loss (module docstring)."""
    _loss_gradients(net, batch)
    with torch.no_grad():
        return float(sum(float(m.weight.grad.norm()) for m in _weighted(net) if m.weight.grad is not None))


def jacov(net: nn.Module, batch: Batch) -> float:
    """Jacobian covariance score of `net` on the batch's images (module docstring)."""
    x = batch[0].detach().clone().requires_grad_(True)
    net.train()
    net.zero_grad(set_to_none=True)
    out = _logits(net, x)
    out.backward(torch.ones_like(out))
    jac = x.grad.reshape(len(x), -1).double().cpu().numpy()
    if len(jac) < 2 or np.any(jac.std(axis=1) == 0):
        return jacov_score(np.r_[len(jac), np.zeros(len(jac) - 1)])  # the rank-one minimum
    return jacov_score(np.linalg.eigvalsh(np.corrcoef(jac)))


def jacov_score(eigenvalues: np.ndarray) -> float:
    """-sum(log(lambda + k) + 1 / (lambda + k)) over a correlation matrix's eigenvalues."""
    v = np.clip(eigenvalues, 0.0, None) + JACOV_K
    return float(-np.sum(np.log(v) + 1.0 / v))


def nwot(net: nn.Module, batch: Batch) -> float:
    """log |det K| of the ReLU-code agreement kernel of the batch (module docstring)."""
    x = batch[0]
    kernel = torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device)

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        nonlocal kernel
        codes = (inputs[0].detach().reshape(len(x), -1) > 0).double()
        kernel = kernel + codes @ codes.T + (1.0 - codes) @ (1.0 - codes).T

    hooks = [m.register_forward_pre_hook(record) for m in net.modules() if isinstance(m, nn.ReLU)]
    net.train()
    try:
        with torch.no_grad():
            _logits(net, x)
    finally:
        for hook in hooks:
            hook.remove()
    sign, logdet = torch.linalg.slogdet(kernel.cpu())
    return float(logdet) if float(sign) > 0 and torch.isfinite(logdet) else 0.0


@dataclass(frozen=True)
class Proxy:
    """A proxy: the metric it reports, whether it needs a batch of images, and how it is computed.

    ``compute(net, batch, image_shape, device)``: the score of an untrained `net` (which it may change).
    """

    metric: str
    needs_data: bool
    compute: Callable[[nn.Module, Batch | None, tuple[int, int, int], torch.device], float]


#: Proxy name -> its definition; scores are named ``zc_<name>`` (maximized), costs as the evaluators name them.
PROXIES: dict[str, Proxy] = {
    "synflow": Proxy("zc_synflow", False, lambda net, batch, shape, device: synflow(net, shape, device)),
    "snip": Proxy("zc_snip", True, lambda net, batch, shape, device: snip(net, batch)),
    "grad_norm": Proxy("zc_grad_norm", True, lambda net, batch, shape, device: grad_norm(net, batch)),
    "jacov": Proxy("zc_jacov", True, lambda net, batch, shape, device: jacov(net, batch)),
    "nwot": Proxy("zc_nwot", True, lambda net, batch, shape, device: nwot(net, batch)),
    "params": Proxy("params_mb", False, lambda net, batch, shape, device: count_params_mb(net)),
    "flops": Proxy("flops_m", False, lambda net, batch, shape, device: count_flops_m(net, image_size=shape[-1])),
}
