"""Leaf modules of the ``edgewise`` command; see ``edgewise.cli.COMMANDS``. Keep imports here light."""
