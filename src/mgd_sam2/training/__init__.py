"""Training with Lightning: the loss, the LightningModule, the CLI and the prediction writer."""
