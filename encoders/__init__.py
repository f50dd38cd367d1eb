"""Latent autoencoders, one file each, registered by name."""
