"""Data: the seeded synthetic tasks and g2p, their split and vocabulary files, the DataModule."""
