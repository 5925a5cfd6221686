"""kohyawiz: a short conversation that ends in a correct sd-scripts LoRA run."""

__version__ = "0.1.0"
