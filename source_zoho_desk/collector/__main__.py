"""`python -m source_zoho_desk.collector …`: same as `source-zoho-desk collector …`."""

import sys

from source_zoho_desk.collector.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
