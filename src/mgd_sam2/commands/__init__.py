"""Argparse front-ends of the ``mgd-sam2`` subcommands: each exposes ``add_arguments`` and ``run``."""
