"""The side-by-side benchmark: `make bench` (see bench/README.md)."""
