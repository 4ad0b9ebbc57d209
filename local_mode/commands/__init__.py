"""One module per `python -m local_mode` command: its arguments (`add_parser`) and what it does."""
