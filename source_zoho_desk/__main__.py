"""`python -m source_zoho_desk`: the same entry point as the `source-zoho-desk` console script."""

from source_zoho_desk.run import main

if __name__ == "__main__":
    main()
