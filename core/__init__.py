"""The shared ingestion + summarisation core. Front-ends import from here."""
