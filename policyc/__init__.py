"""policyc: policy-as-code compiler and runtime for Shanxi social assistance."""
__version__ = "0.1.0"
