//! Segmentation metrics with medpy's definitions: Dice, Jaccard, HD95, ASD.
