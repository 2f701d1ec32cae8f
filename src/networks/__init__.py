"""Networks: plain nn.Modules that map a batch of inputs to logits (B, num_outputs)."""
