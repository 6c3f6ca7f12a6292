"""A store on disk or object storage: where it lives, opening and creating it, shards, the
writer and reader, manifests, per-shard summaries and their merge."""
