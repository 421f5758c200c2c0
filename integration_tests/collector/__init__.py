"""Collector tests against a real uvicorn subprocess: durability under kill -9, deployment, wire fuzzing."""
