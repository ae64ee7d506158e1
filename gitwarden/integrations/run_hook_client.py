"""The script the installed hooks run: `python -I -S .../run_hook_client.py KIND [args]`.

It runs gitwarden.integrations.hook_client (see there) imported as a plain module from this
directory, so its bytecode comes from __pycache__: a script named on the command line is
compiled from source on every run (about 3 ms for the client, on every tool call and commit).
Nothing else is imported. `-I` keeps this directory off sys.path, so it is added here, last:
the standard library's modules keep their names.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.append(os.path.dirname(__file__) or ".")
    import hook_client  # type: ignore[import-not-found]  # the sibling module, as top level

    sys.exit(hook_client.main(sys.argv[1:]))
