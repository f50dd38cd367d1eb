"""Optimizers over latent points (ask/tell, minimization), one file each, registered by name."""
