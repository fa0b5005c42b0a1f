"""``python -m tokenomy``: the same as the ``tokenomy`` command."""

from tokenomy.cli.main import run

run()
