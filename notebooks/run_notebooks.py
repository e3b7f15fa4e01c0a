"""Runs every notebook here top to bottom on fresh mesosim outputs; exits 1 if a cell fails.

Each notebook reads only files mesosim writes. This script writes them first, with the
commands the notebooks name in their first cell, into a scratch directory, then points
each notebook at them through the environment variables the notebooks read. It is what
`.ci/run` uses, and what to run after changing an output format:

    python3 notebooks/run_notebooks.py --mesosim target/release/mesosim
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def produce_outputs(mesosim: str, work: Path) -> dict:
    """Runs mesosim and returns the environment the notebooks read their inputs from."""
    run_dir = work / "quickstart"
    compare_dir = work / "compare"
    sweep_dir = work / "offer-filters"
    commands = [
        [mesosim, "run", "--out", str(run_dir), "--event-log", str(run_dir / "events.jsonl")],
        [mesosim, "compare", str(REPO / "scenarios" / "quickstart.toml"),
         "--policies", "hdrf,random,fifo,bestfit", "--seeds", "3", "--out", str(compare_dir)],
        [mesosim, "sweep", str(REPO / "scenarios" / "sweeps" / "offer-filters.toml"),
         "--out", str(sweep_dir)],
    ]
    for command in commands:
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return {"MESOSIM_RUN_DIR": str(run_dir), "MESOSIM_COMPARE_DIR": str(compare_dir),
            "MESOSIM_SWEEP_DIR": str(sweep_dir)}


def execute(path: Path, scratch: Path) -> bool:
    notebook = nbformat.read(path, as_version=4)
    # A kernel over local socket files, not loopback TCP: nothing listens on a port.
    kernel = KernelManager(kernel_name="python3", transport="ipc",
                           connection_file=str(scratch / f"{path.stem}-kernel.json"))
    client = NotebookClient(notebook, km=kernel, timeout=300,
                            resources={"metadata": {"path": str(HERE)}})
    try:
        client.execute()
    except CellExecutionError as error:
        print(f"FAILED {path.name}:\n{error}", file=sys.stderr)
        return False
    finally:
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
    print(f"ok     {path.name}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesosim", required=True, help="path to a built mesosim binary")
    args = parser.parse_args()
    mesosim = str(Path(args.mesosim).resolve())
    with tempfile.TemporaryDirectory(prefix="mesosim-notebooks-") as scratch:
        os.environ.update(produce_outputs(mesosim, Path(scratch)))
        os.environ.setdefault("MPLBACKEND", "Agg")
        notebooks = sorted(HERE.glob("*.ipynb"))
        if not notebooks:
            print("no notebooks found", file=sys.stderr)
            return 1
        results = [execute(path, Path(scratch)) for path in notebooks]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
