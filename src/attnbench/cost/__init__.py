"""Cost: the alternating timer and peak memory, step time against length and its slope fit."""
