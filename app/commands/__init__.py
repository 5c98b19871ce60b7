"""One module per area; each exposes `register(cli)`."""
