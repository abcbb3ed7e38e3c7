"""A real Spark for the engine tests: a standalone master and one worker on 127.0.0.1, started
with the ``spark-class`` launcher that ships in the pyspark package. Skips with the reason when
pyspark or Java is missing."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        pytest.skip("pyspark is not installed (pip install 'meterlog[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (apt-get install openjdk-17-jre-headless)")
    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Spark process exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@contextlib.contextmanager
def standalone_cluster(work: Path) -> Iterator[str]:
    """A master and one worker (1 core, 1 GiB) on 127.0.0.1; yields the master URL."""
    home = spark_home()
    launcher = home / "bin" / "spark-class"
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_WORKER_DIR=str(work / "worker"), SPARK_LOG_DIR=str(work / "logs"))  # fmt: skip
    master_port, master_ui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{master_port}"
    logs = (work / "master.log").open("wb"), (work / "worker.log").open("wb")
    master = subprocess.Popen(
        [str(launcher), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(master_port), "--webui-port", str(master_ui)],
        env=env, stdout=logs[0], stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = None
    try:
        _wait_for_port(master_port, master, 120)
        worker = subprocess.Popen(
            [str(launcher), "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
             "--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui)],
            env=env, stdout=logs[1], stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for_worker(work / "master.log", worker, 120)
        yield url
    finally:
        for process in (worker, master):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        for log in logs:
            log.close()


def _wait_for_worker(master_log: Path, worker: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"Spark worker exited with {worker.returncode}")
        if b"Registering worker" in master_log.read_bytes():
            return
        time.sleep(0.5)
    raise TimeoutError("the Spark worker did not register with the master")
