"""Generative oversampling: a small class-conditional VAE on feature vectors.

The model (Kingma & Welling 2014; conditional form: Sohn et al. 2015, "Learning structured
output representation using deep conditional generative models", NeurIPS) is trained on all
classes at once, so minority classes share the decoder learned from the majority:

    encoder q(z | x, c) = N(mu(x, c), diag sigma^2(x, c)),   decoder x_hat = g(z, c),
    loss = ||x - x_hat||^2 / 2 + beta * KL(q(z | x, c) || N(0, I))   (per sample, summed over
    features; x standardised per feature)

New samples of class c are g(z, c) with z ~ N(0, temperature^2 I), mapped back to the original
feature scale. Training batches are drawn with a square-root class-balanced sampler (q=0.5) so
the rare classes are seen. ``fit_resample`` follows the resampler conventions (strategy parser,
originals first, then new samples class by class).

Whether it helps is measured, not assumed: ``benchmarks/generative.py`` compares it with no
resampling, random over-sampling and SMOTE on a long-tailed digits-features problem (see
``BENCHMARKS.md``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from acwa._internal.progress import progress_iter
from acwa._internal.validation import check_bool, check_float, check_int
from acwa.sampling.resample import BaseResampler, RandomState
from acwa.sampling.samplers import ClassBalancedSampler

__all__ = ["ConditionalVAE", "GenerativeOverSampler"]


class ConditionalVAE(nn.Module):
    """MLP encoder/decoder conditioned on a one-hot class vector."""

    def __init__(self, num_features: int, num_classes: int, latent_dim: int = 8, hidden: int = 128) -> None:
        super().__init__()
        self.num_classes, self.latent_dim = num_classes, latent_dim
        self.encoder = nn.Sequential(
            nn.Linear(num_features + num_classes, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.mu = nn.Linear(hidden, latent_dim)
        self.logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim + num_classes, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_features),
        )

    def _onehot(self, c: Tensor, like: Tensor) -> Tensor:
        return torch.nn.functional.one_hot(c, self.num_classes).to(like.dtype)

    def forward(self, x: Tensor, c: Tensor):
        h = self.encoder(torch.cat([x, self._onehot(c, x)], 1))
        mu, logvar = self.mu(h), self.logvar(h).clamp(-10.0, 10.0)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z, c), mu, logvar

    def decode(self, z: Tensor, c: Tensor) -> Tensor:
        return self.decoder(torch.cat([z, self._onehot(c, z)], 1))


class _Adam:
    """Adam (Kingma & Ba 2015) with the default betas (0.9, 0.999), eps 1e-8.

    A few lines instead of ``torch.optim.Adam``: constructing any ``torch.optim`` optimizer
    imports ``torch._dynamo`` (~5 s of start-up on a small CPU machine), which would dominate
    a short fit.
    """

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(m, (v / c2).sqrt_().add_(self.eps), value=-self.lr / c1)


class GenerativeOverSampler(BaseResampler):
    """Over-sample with a class-conditional VAE trained on (X, y).

    Args:
        sampling_strategy, random_state: as every resampler (random_state also seeds the
            network's initialisation and training; the global RNG is left untouched).
        latent_dim, hidden: VAE sizes. steps, batch_size, lr: Adam training budget.
        beta: weight of the KL term. temperature: scale of z when sampling (< 1 trades
            diversity for fidelity). progress: a bar over the training steps (tqdm).

    After ``fit_resample``: ``model_`` (the trained :class:`ConditionalVAE`), ``loss_history_``
    and :meth:`sample` to draw more points of a class.
    """

    _sampling_type = "over-sampling"
    _require_2d = True
    _require_float = True

    def __init__(
        self,
        *,
        sampling_strategy: Any = "auto",
        random_state: RandomState = None,
        latent_dim: int = 8,
        hidden: int = 128,
        steps: int = 2000,
        batch_size: int = 128,
        lr: float = 1e-3,
        beta: float = 1.0,
        temperature: float = 1.0,
        progress: bool = False,
    ) -> None:
        super().__init__(sampling_strategy=sampling_strategy, random_state=random_state)
        latent_dim, hidden = check_int(latent_dim, "latent_dim", min=1), check_int(hidden, "hidden", min=1)
        steps, batch_size = check_int(steps, "steps", min=1), check_int(batch_size, "batch_size", min=1)
        lr = check_float(lr, "lr", min=0.0, min_open=True)
        beta = check_float(beta, "beta", min=0.0, min_open=True)
        temperature = check_float(temperature, "temperature", min=0.0, min_open=True)
        self.latent_dim, self.hidden, self.steps, self.batch_size = latent_dim, hidden, steps, batch_size
        self.lr, self.beta, self.temperature = float(lr), float(beta), float(temperature)
        self.progress = check_bool(progress, "progress")

    def _fit_resample(self, X, y, y_np, g):
        device, dtype = X.device, X.dtype
        num_classes = int(y_np.max()) + 1
        Xf = X.float()
        self.mean_ = Xf.mean(0)
        self.scale_ = Xf.std(0).clamp(min=1e-6)
        Z = (Xf - self.mean_) / self.scale_
        yl = torch.from_numpy(y_np.astype("int64")).to(device)
        seed = int(torch.randint(0, 2**62, (1,), generator=g))
        self._sample_gen = torch.Generator().manual_seed(seed + 1)
        devices = (
            [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
        )
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            model = ConditionalVAE(Z.shape[1], num_classes, self.latent_dim, self.hidden).to(device)
            opt = _Adam(list(model.parameters()), lr=self.lr)
            batches = ClassBalancedSampler(y_np, q=0.5, num_samples=self.steps * self.batch_size, seed=seed)
            order = batches.sample_indices(0).to(device).view(self.steps, self.batch_size)
            history = []
            model.train()
            for step in progress_iter(range(self.steps), self.progress, "VAE training steps", self.steps):
                idx = order[step]
                xb, cb = Z[idx], yl[idx]
                recon, mu, logvar = model(xb, cb)
                rec = 0.5 * (recon - xb).pow(2).sum(1).mean()
                kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
                loss = rec + self.beta * kl
                grads = torch.autograd.grad(loss, opt.params)
                opt.step(grads)
                if step % 50 == 0 or step == self.steps - 1:
                    history.append(loss.detach())
        model.eval()
        self.model_ = model
        self.loss_history_ = torch.stack(history).cpu()
        new_X, new_y = [X], [y]
        for c, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            new_X.append(self.sample(c, n_new).to(dtype))
            new_y.append(torch.full((n_new,), c, dtype=y.dtype, device=y.device))
        return torch.cat(new_X), torch.cat(new_y)

    @torch.no_grad()
    def sample(self, c: int, n: int) -> Tensor:
        """n new feature vectors of class c (original scale, float32, on X's device)."""
        if not hasattr(self, "model_"):
            raise ValueError("call fit_resample(X, y) before sample()")
        if not 0 <= c < self.model_.num_classes:
            raise ValueError(f"class must lie in [0, {self.model_.num_classes}), got {c}")
        device = self.mean_.device
        z = torch.randn(n, self.latent_dim, generator=self._sample_gen).to(device) * self.temperature
        cls = torch.full((n,), c, dtype=torch.long, device=device)
        return self.model_.decode(z, cls) * self.scale_ + self.mean_
