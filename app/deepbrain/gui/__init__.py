"""The deepbrain window (PyQt5 + pyqtgraph). The only package that imports Qt.

Start it with ``deepbrain gui`` (see :mod:`deepbrain.gui.app`); everything it computes comes
from the Qt-free core (pipeline, colouring, playback, recording).
"""
