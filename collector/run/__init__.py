"""Running a collection: the engine over Dask, shard jobs, filling and choosing scenes,
finalize, the ledger, the store lock, outputs and reports."""
