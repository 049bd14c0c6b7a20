"""The broker contract suite (one suite, every adapter)."""
