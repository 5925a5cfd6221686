# marker for version detection: validation_split
