"""Errors that the CLI turns into one line on stderr and an exit code."""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class GitwardenError(Exception):
    """A failure the user can act on; the message is shown as is."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(GitwardenError):
    """Bad arguments, unknown names or bad configuration."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """gitwarden.toml cannot be read or is invalid."""


class RepoError(GitwardenError):
    """Not a repository gitwarden can work with."""

    exit_code = EXIT_USAGE


class GitError(GitwardenError):
    """A git command failed."""


class NotAllowed(GitwardenError):
    """The caller may not do this: an agent acting as another, or a user command from an
    agent's context."""

    exit_code = EXIT_USAGE
