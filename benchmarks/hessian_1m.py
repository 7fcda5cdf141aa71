"""Top-5 Hessian eigenvalues and a Hutchinson trace of a ~1M-parameter model, with timing.

The model is the widest MLP of the width experiment (64 -> 1024 -> 1024 -> 10, 1,126,410 parameters),
briefly trained on scikit-learn's digits; curvature is measured on 512 training samples. Acceptance
(issue 6): both numbers in under 2 minutes on this host (1 thread).

    nice -n 10 .venv/bin/python benchmarks/hessian_1m.py [--probes 100] [--tol 1e-4] [--train-steps 300]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from edgewise.analysis.hessian import (
    TrackConfig,
    curvature_operators,
    digits_data,
    extreme_eigenvalues,
    hutchinson_trace,
    make_mlp,
)


class _Counting:
    """Counts Hessian-vector products (columns) passing through ``@``."""

    def __init__(self, op):
        self.op, self.count = op, 0
        self.shape, self.dtype, self.device = op.shape, op.dtype, op.device

    def __matmul__(self, v):
        self.count += 1 if v.ndim == 1 else v.shape[1]
        return self.op @ v

    def to_scipy(self, dtype=None):
        from scipy.sparse.linalg import LinearOperator

        def mv(x):
            return (self @ torch.as_tensor(x, dtype=self.dtype)).numpy()

        return LinearOperator(self.shape, matvec=mv, matmat=mv, dtype=dtype)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=100, help="Hutchinson probes")
    ap.add_argument("--tol", type=float, default=1e-4, help="Lanczos relative tolerance")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--n-data", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)

    (xtr, ytr), _ = digits_data()
    model = make_mlp(64, 1024, 10)
    n_params = sum(p.numel() for p in model.parameters())
    cfg = TrackConfig(steps=args.train_steps, lr=0.1)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    for _ in range(cfg.steps):
        idx = torch.randint(0, xtr.shape[0], (cfg.batch_size,), generator=gen)
        opt.zero_grad()
        loss_fn(model(xtr[idx]), ytr[idx]).backward()
        opt.step()

    data = [(xtr[: args.n_data], ytr[: args.n_data])]
    t0 = time.perf_counter()
    hess = _Counting(curvature_operators(model, loss_fn, data).hessian)
    top5 = extreme_eigenvalues(hess, 5, tol=args.tol)
    t_eig = time.perf_counter() - t0
    n_eig = hess.count
    t1 = time.perf_counter()
    tr = hutchinson_trace(hess, args.probes)
    t_tr = time.perf_counter() - t1

    print(f"model: MLP 64-1024-1024-10, {n_params:,} parameters; data: {args.n_data} digits samples; 1 thread")
    print(f"{'quantity':<26} {'value':>48} {'HVPs':>6} {'seconds':>8}")
    print(f"{'top-5 eigenvalues':<26} {', '.join(f'{v:.4g}' for v in top5):>48} {n_eig:>6} {t_eig:>8.1f}")
    print(f"{'trace (Hutchinson)':<26} {f'{tr.trace:.4g} ± {tr.stderr:.2g} (s.e.)':>48} {hess.count - n_eig:>6} {t_tr:>8.1f}")
    print(f"{'total':<26} {'':>48} {hess.count:>6} {t_eig + t_tr:>8.1f}  (budget 120 s)")


if __name__ == "__main__":
    main()
