"""The applications the benchmark runner serves: hookreceiver and the baselines beside it."""
