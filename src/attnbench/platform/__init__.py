"""Platform: pinned CPU numerics, the canary, the GPU check, the machine's room for the study."""
