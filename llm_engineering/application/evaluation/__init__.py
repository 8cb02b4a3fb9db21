"""Side-by-side evaluation of the base, SFT and DPO models."""
