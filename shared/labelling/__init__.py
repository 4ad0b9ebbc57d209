"""The labelling loop: production images the live model is unsure about, back to the people who label."""
