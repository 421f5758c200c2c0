"""`python -m source_zoho_desk`: the same entry point as the `source-zoho-desk` console script."""

from source_zoho_desk.run import run

if __name__ == "__main__":
    run()
