"""Adversarial robustness: FGSM and PGD attacks in input space, robust accuracy, adversarial
training (:class:`src.callbacks.adversarial.AdversarialTraining`)."""
