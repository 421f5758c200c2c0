"""Developer tools that derive committed artifacts (schemas, fake-server facts) from Zoho's OAS files."""
