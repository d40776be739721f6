"""Default networks per task (tuned; see benchmarks/README.md for the figures they give)."""
from .config import LayerConfig, NetworkConfig

__all__ = ["preset"]

TAUS = (0.002, 0.004, 0.008, 0.016)


def preset(task, dt=1e-3, seed=0):
    """The default NetworkConfig of a task at step ``dt`` (weights seeded by ``seed``)."""
    if task == "coincidence":
        layers = (LayerConfig(2, 16, taus=TAUS, theta0=0.05, m_f=0.05, tau_theta=0.02,
                              eta_w=8.0, eta_v=8.0, eta_b=8.0),
                  LayerConfig(16, 2, taus=TAUS, readout="linear", encoder="none",
                              eta_w=8.0, eta_v=8.0, eta_b=8.0))
    elif task == "digits":
        layers = (LayerConfig(8, 64, taus=TAUS, theta0=0.05, m_f=0.05, tau_theta=0.02,
                              eta_w=8.0, eta_v=2.0, eta_b=2.0),
                  LayerConfig(64, 10, taus=TAUS, readout="linear", encoder="none",
                              eta_w=8.0, eta_v=2.0, eta_b=2.0))
    else:
        raise ValueError(f"unknown task {task!r}; expected 'coincidence' or 'digits'")
    return NetworkConfig(dt=dt, layers=layers, init_seed=seed).validate()
