"""The core's one error for artifacts that cannot be served."""


class ArtifactError(Exception):
    """An artifact directory that cannot be served; the message names the file and the problem."""
