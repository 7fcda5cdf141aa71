"""Host analysis tools: hessian, divergences, ite, gin, disentangle (import the subpackage you need)."""
