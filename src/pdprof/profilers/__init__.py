"""Per-tool profiler support (output parsing, later command-line building)."""
