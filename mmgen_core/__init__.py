"""mmgen_core: the library behind the MMGen notebooks (melody-guided text-to-music diffusion)."""
import os

# OpenMP threads that spin while waiting make 2-thread torch up to 60x slower when another process
# shares the cores (measured here); sleeping waiters cost little when the machine is idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
