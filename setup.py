"""Packaging for source-zoho-desk: the Airbyte source and its webhook collector share one distribution."""

import re
from pathlib import Path

from setuptools import find_packages, setup

# The one version: metadata.yaml's data.dockerImageTag (Airbyte's image tag). The Dockerfile's io.airbyte.version
# label repeats it; .ci/bump-version.sh sets both and unit_tests/test_packaging.py checks all three agree.
_METADATA = (Path(__file__).resolve().parent / "metadata.yaml").read_text()
VERSION = re.search(r"^  dockerImageTag:\s*[\"']?([^\s\"']+)", _METADATA, re.MULTILINE).group(1)

MAIN_REQUIREMENTS = [
    "airbyte-cdk>=7.39,<8",
    "requests>=2.32,<3",
    "starlette>=0.47,<2",
    "uvicorn>=0.35,<1",
    "prometheus-client>=0.21,<1",
    "pyjwt[crypto]>=2.8,<3",
]

TEST_REQUIREMENTS = [
    "pytest>=8,<10",
    "pytest-timeout>=2.3,<3",
    "hypothesis>=6.100,<7",
    "httpx>=0.27,<1",
    "requests-mock>=1.12,<2",
    "docker>=7.1,<8",
    "psutil>=5.9,<8",
    "ruff>=0.8,<1",
    "airbyte-connector-models>=0.1.12,<0.2",  # Airbyte's published metadata.yaml schema (test_packaging)
    "pyinstrument>=4.6,<6",  # bench/: profiles of the read's hot paths
]

setup(
    name="source-zoho-desk",
    version=VERSION,
    description="Airbyte source for Zoho Desk, with a webhook collector for near-real-time incremental syncs.",
    author="source-zoho-desk contributors",
    license="MIT",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["source_zoho_desk", "source_zoho_desk.*"]),
    install_requires=MAIN_REQUIREMENTS,
    package_data={"source_zoho_desk": ["spec.yaml", "schemas/*.json"]},
    extras_require={"tests": TEST_REQUIREMENTS, "dev": TEST_REQUIREMENTS},
    entry_points={"console_scripts": ["source-zoho-desk=source_zoho_desk.run:main"]},
)
