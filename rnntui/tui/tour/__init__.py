"""The guided tour: one time step of the network, screen by screen, on live numbers from the learner's
own text. ``TourScreen`` opens over the playground (F10) or alone (``rnntui tour``, ``TourApp``); the
numbers come from ``rnntui.tour``."""
