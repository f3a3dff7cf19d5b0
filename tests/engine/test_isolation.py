"""sr_engine stands alone: importing all of it loads no web framework."""

import subprocess
import sys

MODULES = ["sr_engine", "sr_engine.cli", "sr_engine.inference", "sr_engine.train",
           "sr_engine.evaluate", "sr_engine.benchmark", "sr_engine.zoo", "sr_engine.checkpoint"]


def test_engine_imports_no_web_stack():
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'celery', 'channels', 'webapp', 'uvicorn', 'kombu'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"web modules loaded by sr_engine: {out.stdout}"
