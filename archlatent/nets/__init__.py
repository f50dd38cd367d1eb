"""PyTorch networks built from genotypes."""
