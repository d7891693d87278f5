"""What helps accuracy: model shape, augmentation, ensembles, teachers, other recognisers, LM text."""
