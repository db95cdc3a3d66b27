"""Workflows that are not presets: gravity and impedance inversions of field data, the HTC2022
measured-scan reconstruction and the joint-optimisation landscape study.

Each study composes problems, methods and models; none is a registry entry.
"""
