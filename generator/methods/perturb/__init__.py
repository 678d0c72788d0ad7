"""Perturbation methods: what the class score loses when parts of the input are changed."""
