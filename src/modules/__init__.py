"""LightningModules, one per task. Each receives built networks, optimizer and schedule."""
