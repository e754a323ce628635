"""The benchmark runner's parts: servers, load generators, sections and the report."""
