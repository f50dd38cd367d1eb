"""Evaluators: answer `evaluate(genotypes)` from a table or a supernet, counting cost."""
