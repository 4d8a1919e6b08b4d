"""Test helpers shipped with the package: protocol emulators of the cloud providers."""
