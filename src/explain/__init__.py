"""Explanations of a trained classifier (``mode=explain``): attributions with Captum, their
figures, the faithfulness checks, and the model summary every run saves."""
