"""Attention mechanisms behind one interface (base.py), looked up by the name params.yaml
gives (registry.py). kinds.py and mechanism.py describe them without importing torch, so
that params.yaml is validated before any heavy import."""
