import sys

from gitwarden.cli import main

sys.exit(main())
