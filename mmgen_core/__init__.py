"""mmgen_core: the library behind the MMGen notebooks (melody-guided text-to-music diffusion)."""

__version__ = "0.1.0"
