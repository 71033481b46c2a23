import shutil
import uuid
from pathlib import Path

import pytest
from pipeline_harness import Pipeline
from worker_shared import shared_folder


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(tmp_path)


def _xdist_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))


def pytest_configure(config):
    # The run id xdist hands its workers, chosen here so that the controller knows which folder they share.
    if _xdist_controller(config) and config.option.testrunuid is None:
        config.option.testrunuid = uuid.uuid4().hex


def pytest_unconfigure(config):
    if _xdist_controller(config) and config.option.testrunuid:
        shutil.rmtree(shared_folder(config.option.testrunuid), ignore_errors=True)
