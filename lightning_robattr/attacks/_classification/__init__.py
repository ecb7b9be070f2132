"""Classification attacks in pixel space: FGSM, PGD, APGD, Carlini-Wagner L2, DeepFool."""
