"""Training: the loss and step, the LightningModule and Trainer, the stopping rule, decoding."""
