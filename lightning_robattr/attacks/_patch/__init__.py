"""Patch attacks: universal patches whose pixels replace the image's (Brown et al.; LaVAN)."""
