"""Dataset path: blobs in a project folder → checked images and annotations → a versioned manifest."""
