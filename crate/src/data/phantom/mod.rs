//! Deterministic, seeded phantom datasets that stand in for ACDC (cardiac cine-MRI) and
//! BHSD (non-contrast head CT with hemorrhage) so the whole method trains and is measured here.
