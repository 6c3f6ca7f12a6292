"""Planning a collection: cities, regions, Gaussian sampling, seasons, candidates, recipes and
the plan's pictures."""
