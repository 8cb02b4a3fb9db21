"""SFT and DPO on top of TRL + PEFT (or unsloth on a GPU)."""
