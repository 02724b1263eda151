"""The Textual front end: the playground (``rnntui play``) and the training dashboard.

Everything here draws; the numbers come from the core (``rnntui.generate``, ``rnntui.train``).
"""
