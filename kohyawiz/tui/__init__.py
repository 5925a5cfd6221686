"""The Textual wizard: a face over the core. It only asks, shows and calls the core."""
