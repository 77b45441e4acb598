"""``nn.Module`` factories, kept apart from the training loop."""
