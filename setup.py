"""Packaging for source-zoho-desk: the Airbyte source and its webhook collector share one distribution."""

from setuptools import find_packages, setup

VERSION = "0.1.0"

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
    entry_points={"console_scripts": ["source-zoho-desk=source_zoho_desk.run:run"]},
)
