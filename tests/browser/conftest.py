"""The browser tests: `-m browser`; they skip with a reason when Chromium or Playwright is missing."""
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real browser (Chromium via Playwright)")
