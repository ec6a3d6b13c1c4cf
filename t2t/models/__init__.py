"""Backbones: the catalog of named backbones (one record each) and loading them (Hub, local
folders, offline GGUF packages, tiny random twins), LoRA and attention switches.
"""
