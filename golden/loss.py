"""Per-step losses and their gradients e = dL/dy (float; the fixed model quantizes e to ERR)."""
import numpy as np

__all__ = ["softmax_ce", "mse"]


def softmax_ce(y, label):
    """Cross-entropy of softmax(y) against integer labels. y (B, C), label (B,).

    Returns (loss (B,), err (B, C)) with err = softmax(y) - onehot(label).
    """
    y = np.asarray(y, dtype=np.float64)
    z = y - y.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    idx = np.arange(y.shape[0])
    loss = -np.log(np.maximum(p[idx, label], 1e-300))
    err = p.copy()
    err[idx, label] -= 1.0
    return loss, err


def mse(y, target):
    """Half squared error: L = 0.5 * sum (y - target)^2, err = y - target."""
    diff = np.asarray(y, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return 0.5 * np.sum(diff * diff, axis=-1), diff
