"""hemlr: multiclass logistic regression trained under homomorphic encryption."""
__version__ = "0.1.0"
