"""Training folders: reading them (headers only) and checking them against guide parts 1-3."""
