"""Knowing sd-scripts: finding a checkout (locate), installing one (install), learning its
interface (learn, with sd_learn_probe.py run in its own environment), asking its parser about a
plan (sd_probe.py) and building random models from its classes (sd_build_model.py). The facts
themselves are kohyawiz.facts and kohyawiz.learned."""
