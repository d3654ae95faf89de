"""The domain: access_* (fetch + permission), check_* (validate), do_* (mutate and commit)."""
