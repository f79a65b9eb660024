"""Safe loaders that turn files on disk into :class:`~xmodal.data.recording.Recording` objects."""
