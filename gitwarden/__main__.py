import sys

from gitwarden.entry import main

sys.exit(main())
