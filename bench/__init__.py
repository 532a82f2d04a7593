"""Benchmarks of the labs' recipes and of grading: run each as `python -m bench.NAME` from the root."""
