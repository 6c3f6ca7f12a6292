"""Publishing a store: its dataset card, STAC collection and the info summary."""
