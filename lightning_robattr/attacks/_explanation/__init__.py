"""Explanation attacks: move an attribution map (attribution_attack, AAI), keep it while fooling the
classifier (ISA, ADV2), the random-sign baseline and the transfer evaluation."""
