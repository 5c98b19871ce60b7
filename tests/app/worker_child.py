"""A worker process for test_worker.py's SIGTERM test: `python worker_child.py DATABASE_URL`.

Its ingest step prints `ingest started`, then stays busy until the worker is asked to stop,
so the test can send SIGTERM while a run is in progress.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.worker import Worker  # noqa: E402
from core.config import Settings  # noqa: E402
from storage.db import make_engine  # noqa: E402
from tests.app.fakes import FakeSteps  # noqa: E402


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    settings = Settings.from_env({"DATABASE_URL": sys.argv[1]})
    engine = make_engine(settings.database_url)
    fake = FakeSteps()
    thursday = datetime(2026, 4, 2, 10, 30, tzinfo=UTC)  # a fixed clock, as in the test
    worker = Worker(
        settings, engine=engine, steps=fake.steps(), editions=["tech"], clock=lambda: thursday
    )

    def busy_ingest() -> None:
        print("ingest started", flush=True)
        worker.stopping.wait(60)
        print("ingest finishing", flush=True)

    fake.before["ingest"] = busy_ingest
    worker.run_forever()
    print("calls " + " ".join(call[0] for call in fake.calls), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
