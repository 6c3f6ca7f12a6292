"""Pre-training: the store's inputs, augmentations on the device, the SeCo objectives over
timm encoders, the training loop with exact resume, export and weights of other formats."""
