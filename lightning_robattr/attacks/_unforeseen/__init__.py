"""The unforeseen attacks of Kang et al. (Gabor noise, snow, JPEG), each in its own perturbation space."""
