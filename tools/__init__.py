"""Developer tools run from make: the fuzzer (tools/fuzz.py)."""
