"""Live sources. ``open_source("serial:/dev/ttyUSB0", ...)`` parses the ``--source`` spec of ``edgewise run``."""
