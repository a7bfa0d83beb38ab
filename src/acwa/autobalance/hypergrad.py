"""Implicit-function hypergradient for bilevel problems, via Hessian-vector products.

Bilevel problem (AutoBalance, Li et al. 2021, arXiv 2201.01212, eq. 2)::

    min_a  L_val(theta*(a), a)     s.t.   theta*(a) = argmin_theta L_train(theta, a)

At a stationary point of the lower problem the implicit function theorem gives (Lorraine, Vicol
and Duvenaud, "Optimizing Millions of Hyperparameters by Implicit Differentiation", AISTATS 2020)::

    dL_val/da = dL_val/da|_direct  -  (d^2 L_train / da dtheta^T) (H + lambda I)^{-1} dL_val/dtheta

with ``H = d^2 L_train / dtheta^2`` and ``lambda`` the damping (equivalently an L2 term
``lambda/2 ||theta||^2`` in the lower objective, e.g. the optimiser's weight decay).

The inverse-Hessian-vector product ``v = (H + lambda I)^{-1} g`` is approximated by

* ``'neumann'``: ``v ~ alpha * sum_{j=0}^{J} (I - alpha (H + lambda I))^j g``. Converges when every
  eigenvalue of ``alpha (H + lambda I)`` lies in (0, 2); the authors' code uses alpha = 1 with no
  damping, which diverges as soon as the curvature exceeds 2. Here the series stops early
  (keeping the partial sum) if a term grows, so a too-large ``alpha`` cannot blow up, and
  ``alpha='auto'`` takes ``1 / lambda_max`` from a short power iteration.
* ``'cg'``: J iterations of conjugate gradient on ``(H + lambda I) v = g`` (exact in ``dim``
  steps for a positive-definite system), stopping on a non-positive curvature direction.
* ``'identity'``: ``v = alpha g`` (J = 0, the one-step / "T1-T2" approximation).

Every product uses double backward (``torch.autograd.grad(..., create_graph=True)``), so it
works for any :class:`torch.nn.Module` and only traverses the part of the graph that reaches
``params`` (restricting ``params`` to the head makes the Hessian products cheap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["implicit_hypergradient", "inverse_hvp", "top_eigenvalue", "SOLVERS"]

SOLVERS = ("neumann", "cg", "identity")


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> Tensor:
    return torch.stack([(x * y).sum() for x, y in zip(a, b)]).sum()


def _grads(out: Tensor | Sequence[Tensor], inputs: Sequence[Tensor], **kw) -> list[Tensor]:
    gs = torch.autograd.grad(out, inputs, allow_unused=True, **kw)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, inputs)]


def inverse_hvp(
    train_grads: Sequence[Tensor],
    params: Sequence[Tensor],
    vector: Sequence[Tensor],
    solver: str = "neumann",
    terms: int = 5,
    step: float | str = 1.0,
    damping: float = 0.0,
    power_iterations: int = 10,
) -> tuple[list[Tensor], int]:
    """Approximate ``(H + damping I)^{-1} vector`` where ``H`` is the Jacobian of ``train_grads``
    (created with ``create_graph=True``) w.r.t. ``params``. Returns ``(v, terms_used)``.

    ``step='auto'`` sets ``alpha = 1 / lambda_max(H + damping I)``, estimated by
    ``power_iterations`` Hessian-vector products (power iteration), so that every eigenvalue of
    ``alpha (H + lambda I)`` on the positive-curvature side lies in (0, 1]."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {list(SOLVERS)}, got {solver!r}")
    if terms < 0:
        raise ValueError(f"terms must be >= 0, got {terms}")
    if step != "auto" and not (isinstance(step, (int, float)) and step > 0):
        raise ValueError(f"step (the Neumann/identity scale alpha) must be > 0 or 'auto', got {step!r}")
    if damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    vector = [v.detach() for v in vector]

    def hvp(v: Sequence[Tensor]) -> list[Tensor]:
        hv = _grads(list(train_grads), params, grad_outputs=list(v), retain_graph=True)
        if damping:
            hv = [h + damping * x for h, x in zip(hv, v)]
        return [h.detach() for h in hv]

    alpha = 1.0 / top_eigenvalue(hvp, vector, iterations=power_iterations) if step == "auto" else float(step)

    if solver == "identity" or terms == 0:
        return [alpha * v for v in vector], 0
    if solver == "neumann":
        cur = list(vector)
        acc = list(vector)
        cur_norm = _dot(cur, cur)
        used = 0
        for _ in range(terms):
            hv = hvp(cur)
            nxt = [c - alpha * h for c, h in zip(cur, hv)]
            nxt_norm = _dot(nxt, nxt)
            # a growing term means an eigenvalue of alpha*(H + lambda I) outside (0, 2): stop
            if not bool(torch.isfinite(nxt_norm)) or bool(nxt_norm > cur_norm):
                break
            cur, cur_norm = nxt, nxt_norm
            acc = [a + c for a, c in zip(acc, cur)]
            used += 1
        return [alpha * a for a in acc], used
    # conjugate gradient on (H + lambda I) x = b, x0 = 0
    x = [torch.zeros_like(v) for v in vector]
    r = list(vector)
    p = list(vector)
    rr = _dot(r, r)
    used = 0
    for _ in range(terms):
        if not bool(rr > 0):
            break
        hp = hvp(p)
        php = _dot(p, hp)
        if not bool(php > 0) or not bool(torch.isfinite(php)):
            if used == 0:  # no curvature information: fall back to the scaled gradient
                x = [alpha * v for v in vector]
            break
        a = rr / php
        x = [xi + a * pi for xi, pi in zip(x, p)]
        r = [ri - a * hi for ri, hi in zip(r, hp)]
        rr_new = _dot(r, r)
        p = [ri + (rr_new / rr) * pi for ri, pi in zip(r, p)]
        rr = rr_new
        used += 1
    return x, used


def top_eigenvalue(hvp, like: Sequence[Tensor], iterations: int = 10) -> float:
    """Largest-magnitude eigenvalue of the operator ``hvp`` by power iteration (a deterministic
    start: the all-ones direction plus ``like``). Falls back to 1.0 if it is not positive."""
    v = [torch.ones_like(x) + x for x in like]
    norm = _dot(v, v).sqrt()
    v = [x / norm for x in v]
    lam_t = torch.zeros(())
    for _ in range(max(1, iterations)):
        hv = hvp(v)
        lam_t = _dot(v, hv)
        norm = _dot(hv, hv).sqrt()
        if not bool(norm > 0) or not bool(torch.isfinite(norm)):
            break
        v = [x / norm for x in hv]
    lam = float(lam_t)
    return lam if lam > 0 and lam == lam and lam != float("inf") else 1.0


def implicit_hypergradient(
    train_loss_fn: Callable[[], Tensor],
    val_loss_fn: Callable[[], Tensor],
    params: Sequence[Tensor],
    hparams: Sequence[Tensor],
    solver: str = "neumann",
    terms: int = 5,
    step: float | str = 1.0,
    damping: float = 0.0,
) -> tuple[list[Tensor], dict]:
    """Hypergradient ``dL_val/d hparams`` by the implicit function theorem (module docstring).

    ``train_loss_fn()`` and ``val_loss_fn()`` build fresh graphs (each is called once);
    ``params`` are the lower-level parameters (model weights), ``hparams`` the upper ones (loss
    and augmentation parameters). Returns ``(hypergrads, info)`` where ``info`` holds the
    validation loss, the number of solver terms used and the norm of ``v``.
    """
    params = [p for p in params]
    hparams = [h for h in hparams]
    if not params:
        raise ValueError("params is empty: pass the model parameters that the lower problem trains")
    if not hparams:
        raise ValueError("hparams is empty: no loss parameter has requires_grad=True")
    val_loss = val_loss_fn()
    g_val = _grads(val_loss, params + hparams)
    g_val_theta, direct = g_val[: len(params)], g_val[len(params) :]
    train_loss = train_loss_fn()
    g_train = _grads(train_loss, params, create_graph=True)
    v, used = inverse_hvp(g_train, params, g_val_theta, solver, terms, step, damping)
    # d/da <dL_train/dtheta, v> = (d^2 L_train / da dtheta) v
    needs = [g for g in g_train if g.requires_grad]
    if needs:
        mixed = _grads(
            [g for g in g_train if g.requires_grad],
            hparams,
            grad_outputs=[vi for g, vi in zip(g_train, v) if g.requires_grad],
        )
    else:
        mixed = [torch.zeros_like(h) for h in hparams]
    hyper = [d.detach() - m.detach() for d, m in zip(direct, mixed)]
    info = {
        "val_loss": val_loss.detach(),
        "train_loss": train_loss.detach(),
        "solver_terms": used,
        "v_norm": _dot(v, v).sqrt().detach(),
    }
    return hyper, info
