"""Drop-in for Kohya users: kohya_ss GUI JSON and sd-scripts TOML in, kohya_ss GUI JSON out."""
