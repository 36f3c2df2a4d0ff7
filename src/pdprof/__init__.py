"""pdprof: characterize LLM inference on GPUs, compute-bound prefill against memory-bound decode."""

__version__ = "0.1.0"
