"""The pure core shared by the function app and the trainer.

Everything here except ``shared.adapters`` is free of Azure clients and TensorFlow (a test enforces it):
dataset parsing and manifest, label map, debounce state machine, metric gates, approval tokens, event
schemas, and the ports that adapters implement.
"""
