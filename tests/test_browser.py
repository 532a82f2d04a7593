"""Lab 1 end to end in a real browser: JupyterLab + nbgrader's lab extension, driven by Playwright.

A JupyterLab server (a subprocess, on 127.0.0.1, with a token) serves a temporary course folder:
a copy of nbgrader_config.py, solutions/lab1-convolution and labs/lab1-convolution. Debian's
Chromium (``apt-get install chromium``; ./kit test installs it) is driven headless by Playwright for
Python, whose own browser download is never used. Screenshots go to .ci/artifacts/.

- The solution, run with Run → Run All Cells, executes every code cell without an error and shows
  output wherever a headless nbclient run of the same notebook printed or plotted something.
- The released lab, checked with nbgrader's Validate button, fails exactly its test cells, with
  NotImplementedError (the student has written nothing yet).
- Formgrader shows a student's written answer; the points an instructor types there reach the
  gradebook and `cnnkit course export`.
- In JupyterLab started by `./kit lab` from a PATH without the kit's environment, `!cnnkit doctor`
  in a notebook cell and `cnnkit doctor` in a terminal both run.

Without Chromium or Playwright the tests are skipped, except under CI (CI=true) or with
CNNKIT_REQUIRE_BROWSER=1, where they fail. CNNKIT_CHROMIUM names another Chromium executable.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.labcode import execute

pytestmark = [pytest.mark.slow, pytest.mark.real_data]

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / ".ci" / "artifacts"
LAB = "lab1-convolution"
SOLUTION = f"solutions/{LAB}/{LAB}.ipynb"
RELEASE = f"labs/{LAB}/{LAB}.ipynb"
REQUIRE_BROWSER = os.environ.get("CI") == "true" or os.environ.get("CNNKIT_REQUIRE_BROWSER") == "1"
# Chromium as root, on a machine whose network is closed: no sandbox, no GPU, nothing phoning home.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16000  # Chromium's limit for one capture is 16,384 px
RUN_ALL_TIMEOUT_S = 240
VALIDATE_TIMEOUT_S = 180
# The notebook on show (JupyterLab keeps the others in the DOM, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _unavailable(message: str):
    if REQUIRE_BROWSER:
        pytest.fail(message)
    pytest.skip(message)


def _chromium() -> str:
    """CNNKIT_CHROMIUM, else chromium on PATH (Debian's /usr/bin/chromium)."""
    named = os.environ.get("CNNKIT_CHROMIUM")
    found = named or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not os.access(found, os.X_OK):
        _unavailable(f"no Chromium ({named or 'chromium not on PATH'}): on Debian, "
                     "apt-get install chromium (./kit test does it), or set CNNKIT_CHROMIUM")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabServer:
    """A JupyterLab subprocess serving ``root``; ``api`` calls its REST API with the token."""

    def __init__(self, root: Path, state: Path, data_dir: Path):
        self.root, self.port, self.token = root, _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state / "jupyterlab.log"
        settings = state / "lab-settings"
        # Never ask about (or fetch) Jupyter's news: a toast would cover the notebook. No blank
        # page after the last cell, so that a window as tall as the notebook shows all of it.
        for plugin, values in {"apputils-extension/notification": {"fetchNews": "false"},
                               "notebook-extension/tracker": {"scrollPastEnd": False}}.items():
            path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ,
                   CNNKIT_PROFILE="smoke", CNNKIT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1",
                   # Nothing from this user's Jupyter set-up: only the venv's extensions and kernel.
                   JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_DATA_DIR=str(state / "data"),
                   JUPYTER_RUNTIME_DIR=str(state / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
        env.pop("MPLBACKEND", None)  # the kernel's inline backend draws the plots
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                   f"--port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
                   "--ServerApp.terminals_enabled=False", "--LabApp.news_url=None",
                   "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        self._log = self.log_path.open("wb")
        # nbgrader's Validate reads nbgrader_config.py from the server's working directory.
        self.process = subprocess.Popen(command, cwd=root, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, method: str, path: str, timeout: float = 10):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"JupyterLab exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer /api/status in {timeout:.0f} s:\n{self.log_tail()}")

    def shut_down_kernels(self) -> None:
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)

    def stop(self) -> None:
        try:
            self.api("POST", "/api/shutdown", timeout=10)  # stops the kernels, then the server
            self.process.wait(timeout=30)
        except (OSError, urllib.error.URLError, subprocess.TimeoutExpired):
            # The server's process group holds its kernels too: end them all.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, real_mnist):
    """JupyterLab on a copy of Lab 1's course folder, kernels in the smoke profile."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for folder in ("solutions", "labs"):
        shutil.copytree(ROOT / folder / LAB, course / folder / LAB)
    server = LabServer(course, tmp_path_factory.mktemp("jupyter-state"), real_mnist.parent)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's executable, once Playwright is known to be installed (checked before any work)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("Playwright is not installed: .venv/bin/pip install -e '.[test]'")
    return _chromium()


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    """Headless Chromium, a new empty profile, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium,
            headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser, lab_server, request):
    """A new tab; a screenshot of it if the test fails; the server's kernels stopped afterwards."""
    tab = browser.new_page()
    failures_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failures_before:  # the call's report is counted by now
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"))
    tab.close()
    lab_server.shut_down_kernels()


def wait_for_idle_kernel(page) -> None:
    """Wait until the notebook on show names its Python 3 kernel and that kernel is idle."""
    page.wait_for_function(
        """(panel) => {
            const node = document.querySelector(panel);
            const kernel = node && node.querySelector('.jp-KernelName');
            const state = node && node.querySelector('.jp-Notebook-ExecutionIndicator');
            return kernel && /Python 3/.test(kernel.textContent)
                && state && state.dataset.status === 'idle';
        }""", arg=PANEL, timeout=90_000)


def open_notebook(page, server: LabServer, path: str) -> None:
    """Open ``path`` alone in JupyterLab (a reset workspace) and wait for its idle kernel."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.goto(f"{server.url}/lab/tree/{path}?reset&token={server.token}")
    name = Path(path).name
    page.wait_for_selector(f'.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current:has-text("{name}")')
    wait_for_idle_kernel(page)
    page.keyboard.press("Control+b")  # hide the file browser: more notebook in the screenshots
    try:
        page.wait_for_selector("#jp-left-stack", state="hidden", timeout=5000)
    except PlaywrightTimeoutError:
        pass  # only the screenshots are narrower


# What each code cell of the notebook on show looks like: its prompt, the kinds of output it
# shows, and the text of every output that is a Python traceback. JupyterLab renders an error
# exactly like a stream on stderr (a jp-RenderedText with data-mime-type
# application/vnd.jupyter.stderr), so a traceback is told apart by its text.
CELLS_JS = """(panel) => [...document.querySelectorAll(panel + ' .jp-CodeCell')].map(cell => {
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
    const stderr = outputs.filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr');
    const traceback =
        /Traceback \\(most recent call last\\)|^[\\w.]*(Error|Exception|Interrupt|Exit)\\b/m;
    return {
        prompt: cell.querySelector('.jp-InputArea-prompt').textContent.trim(),
        text: outputs.some(o => o.classList.contains('jp-RenderedText')),
        image: outputs.some(o => o.querySelector('img') !== null),
        errors: stderr.map(o => o.textContent).filter(t => traceback.test(t)),
    };
})"""

RUN_FINISHED_JS = """(panel) => {
    const node = document.querySelector(panel);
    const prompts = [...node.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
        .map(p => p.textContent.trim());
    const idle = node.querySelector('.jp-Notebook-ExecutionIndicator').dataset.status === 'idle';
    // Run All queues every cell at once ([*]); after an error the rest go back to [ ].
    return idle && !prompts.includes('[*]:') && prompts.some(p => /^\\[\\d+\\]:$/.test(p));
}"""


def screenshot_notebook(page, name: str) -> None:
    """Save the whole notebook as ``name``.png, and its first and last screens as -top, -end."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    scroller = f"{PANEL} .jp-WindowedPanel-outer"
    page.eval_on_selector(scroller, "node => { node.scrollTop = 0; }")
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{name}-top.png"))
    page.eval_on_selector(f"{PANEL} .jp-Cell:last-child",
                          "node => node.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}-end.png"))
    # A window as tall as the notebook shows every cell at once; cells out of view have only an
    # estimated height until they are drawn, so grow the window until nothing is left to scroll.
    height = VIEWPORT["height"]
    for _ in range(6):
        hidden = page.eval_on_selector(scroller, "node => node.scrollHeight - node.clientHeight")
        if hidden < 2 or height >= MAX_SCREENSHOT_HEIGHT:
            break
        height = min(height + hidden, MAX_SCREENSHOT_HEIGHT)
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(700)
    page.eval_on_selector(scroller, "node => { node.scrollTop = 0; }")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)


@pytest.fixture(scope="module")
def reference_outputs(tmp_path_factory, real_mnist) -> list[set[str]]:
    """Per code cell of the solution: the kinds of output ('text', 'image') a headless run shows."""
    folder = shutil.copytree(ROOT / "solutions" / LAB, tmp_path_factory.mktemp("reference") / LAB)
    notebook = folder / f"{LAB}.ipynb"
    _, errors = execute(notebook, "smoke")
    assert errors == [], f"the solution fails headless (nbclient), before any browser: {errors}"
    kinds = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            data = [output.get("data", {}) for output in cell.outputs]
            kinds.append({"text" for output in cell.outputs if output.output_type == "stream"}
                         | {"text" for d in data if "text/plain" in d and "image/png" not in d}
                         | {"image" for d in data if "image/png" in d})
    return kinds


def test_solution_runs_all_cells_in_jupyterlab(chromium, reference_outputs, lab_server, page):
    """Run → Run All Cells on Lab 1's solution: every cell runs, none fails, all output shows."""
    open_notebook(page, lab_server, SOLUTION)
    started = time.monotonic()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(RUN_FINISHED_JS, arg=PANEL, timeout=RUN_ALL_TIMEOUT_S * 1000,
                           polling=500)
    print(f"Run All Cells in the browser: {time.monotonic() - started:.0f} s")
    cells = page.evaluate(CELLS_JS, PANEL)
    screenshot_notebook(page, "lab1-solution-run-all")

    assert len(cells) == len(reference_outputs), "the browser shows another number of code cells"
    unexecuted = [index for index, cell in enumerate(cells)
                  if not re.fullmatch(r"\[\d+\]:", cell["prompt"])]
    assert unexecuted == [], f"code cells without an execution count: {unexecuted}"
    counts = [int(cell["prompt"][1:-2]) for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), f"cells ran out of order: {counts}"
    errors = {index: cell["errors"] for index, cell in enumerate(cells) if cell["errors"]}
    assert errors == {}, f"cells show a traceback: {errors}"
    missing = {index: sorted(wanted - {kind for kind in ("text", "image") if cell[kind]})
               for index, (cell, wanted) in enumerate(zip(cells, reference_outputs))
               if wanted - {kind for kind in ("text", "image") if cell[kind]}}
    assert missing == {}, f"output of the headless run missing in the browser: {missing}"

    # What the browser ran, saved through its toolbar: the outputs nbformat reads back.
    page.locator(f'{PANEL} .jp-Toolbar-item[data-jp-item-name="save"]').click()
    page.wait_for_selector(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current:not(.jp-mod-dirty)")
    saved = nbformat.read(lab_server.root / SOLUTION, as_version=4)
    code = [cell for cell in saved.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == counts
    assert [output for cell in code for output in cell.outputs
            if output.output_type == "error"] == []


def test_validate_button_reports_the_released_labs_failing_tests(chromium, lab_server, page):
    """nbgrader's Validate on the untouched release: each test cell fails (NotImplementedError,
    or a prediction not written yet), and so does each written answer still blank."""
    release = nbformat.read(lab_server.root / RELEASE, as_version=4)
    test_cells = [cell.source for cell in release.cells
                  if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
                  and not cell.metadata["nbgrader"].get("solution")]
    written = [cell for cell in release.cells
               if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("grade")]
    assert test_cells, "the released lab has no test cells"
    open_notebook(page, lab_server, RELEASE)

    started = time.monotonic()
    button = page.locator(f"{PANEL} jp-button.validate-button")
    assert button.inner_text().strip() == "Validate"
    button.click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=VALIDATE_TIMEOUT_S * 1000)
    print(f"Validate in the browser: {time.monotonic() - started:.0f} s")
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lab1-release-validate.png"))

    assert page.locator(".jp-Dialog .jp-Dialog-header").inner_text().strip() == "Validation Results"
    assert "validation-failed" in message.get_attribute("class"), message.inner_text()[:2000]
    failed = message.locator("p", has_text="The following cell failed:")
    assert failed.count() == len(test_cells) + len(written), message.inner_text()[:2000]
    text = message.inner_text()
    predictions = sum(1 for source in test_cells if "check_prediction(" in source)
    assert text.count("NotImplementedError") >= len(test_cells) - predictions
    assert text.count("your prediction is not written yet") >= predictions
    assert text.count("YOUR ANSWER HERE") >= len(written)
    for source in test_cells:
        docstring = source.splitlines()[0]
        assert docstring in text, f"the dialog does not list the test cell {docstring!r}"
    page.locator(".jp-Dialog .jp-mod-accept").click()
    message.wait_for(state="detached")


ATTACK_HTML = ('\n\n<img src="x" onerror="window.cnnkitAttack = 1">'
               '<script>window.cnnkitAttack = 2</script>\n')


def test_formgrader_shows_a_written_answer_and_its_points_reach_the_export(chromium, lab_server,
                                                                            page, tmp_path):
    """An instructor's round: nbgrader autogrades alice (a copy of the solution); Formgrader's
    manual grading page shows her written answer, and not the script she hid in it; the points
    typed there are in the gradebook and in `cnnkit course export`, whose needs_grading counts
    the answers still waiting."""
    import csv

    from nbgrader.api import Gradebook

    from cnnkit.course.nbgrader_cli import run_nbgrader
    from tests.labcode import grade_cells, lab_points

    root = lab_server.root
    answers = [cell for cell in grade_cells(LAB) if cell["cell_type"] == "markdown"]
    assert answers, f"{LAB} has no written answers"
    first = answers[0]
    try:
        for step in (("generate_assignment", LAB, "--force"), ("db", "student", "add", "alice")):
            result = run_nbgrader(root, *step, timeout=300)
            assert result.returncode == 0, result.stdout
        (root / "submitted" / "alice" / LAB).mkdir(parents=True, exist_ok=True)
        submission = nbformat.read(ROOT / SOLUTION, as_version=4)
        for cell in submission.cells:  # her answer also tries to run code in the grader's browser
            if cell.metadata.get("nbgrader", {}).get("grade_id") == first["grade_id"]:
                cell.source += ATTACK_HTML
        nbformat.write(submission, root / "submitted" / "alice" / LAB / f"{LAB}.ipynb")
        result = run_nbgrader(root, "autograde", LAB, timeout=600)
        assert result.returncode == 0, result.stdout
    finally:  # generate_assignment rewrote the release without the kit's starter code
        shutil.copytree(ROOT / "labs" / LAB, root / "labs" / LAB, dirs_exist_ok=True)
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url) as gradebook:
        notebook_id = gradebook.find_submission_notebook(LAB, LAB, "alice").id

    saves = []  # Formgrader's PUTs to its grade API, with their status
    page.on("response", lambda response: saves.append((response.request.method, response.url,
                                                       response.status))
            if "/formgrader/api/grade/" in response.url else None)
    # As an instructor gets there: logged in to JupyterLab (the token in a page's URL alone does
    # not log in Formgrader's own API calls), then Formgrader's manual grading page.
    page.goto(f"{lab_server.url}/lab?token={lab_server.token}")
    page.wait_for_load_state("networkidle")
    page.goto(f"{lab_server.url}/formgrader/submissions/{notebook_id}/")
    score = page.locator(f"input.score#{first['grade_id']}")
    score.wait_for()
    assert "Model answer." in page.locator("#notebook").first.inner_text()  # her answer, on show
    assert page.evaluate("window.cnnkitAttack") is None, "a written answer ran script in Formgrader"
    page.wait_for_load_state("networkidle")  # Formgrader's views are bound once its data came
    score.fill(f"{first['points']:g}")
    score.dispatch_event("change")  # what leaving the field does: Formgrader saves on "change"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "formgrader-written-answer.png"))
    deadline, manual_score = time.monotonic() + 30, None
    while manual_score is None and time.monotonic() < deadline:
        time.sleep(0.5)
        with Gradebook(url) as gradebook:
            manual_score = gradebook.find_grade(first["grade_id"], LAB, LAB, "alice").manual_score
    assert manual_score == first["points"], f"Formgrader's requests: {saves}"

    exported = subprocess.run([sys.executable, "-m", "cnnkit", "course", "--course", str(root),
                               "export", str(tmp_path / "grades.csv")],
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    row = next(row for row in csv.DictReader((tmp_path / "grades.csv").open())
               if row["student"] == "alice")
    automatic, written = lab_points(LAB)
    assert float(row["score"]) == automatic + first["points"]
    assert float(row["max_score"]) == automatic + written
    assert int(row["needs_grading"]) == len(answers) - 1


@pytest.fixture(scope="module")
def kit_server(tmp_path_factory, real_mnist):
    """JupyterLab as `./kit lab` starts it, from a PATH without the kit's bin/ (this environment
    standing in for the .venv that ./kit builds), in a folder holding a copy of kit and labs/."""
    venv = Path(sys.executable).parents[1]
    port, token = _free_port(), secrets.token_hex(16)
    path = os.pathsep.join(folder for folder in os.environ["PATH"].split(os.pathsep)
                           if Path(folder).resolve() != (venv / "bin").resolve())
    state = tmp_path_factory.mktemp("kit-lab")
    checkout = state / "checkout"  # kit and labs/ only: the test writes its notebook there
    (checkout / "labs").mkdir(parents=True)
    shutil.copy2(ROOT / "kit", checkout / "kit")
    env = dict(os.environ, PATH=path, CNNKIT_VENV=str(venv), PORT=str(port),
               CNNKIT_DATA_DIR=str(real_mnist.parent), JUPYTER_CONFIG_DIR=str(state / "config"),
               JUPYTER_DATA_DIR=str(state / "data"), JUPYTER_RUNTIME_DIR=str(state / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"))
    log = (state / "kit-lab.log").open("wb")
    process = subprocess.Popen([str(checkout / "kit"), "lab", f"--IdentityProvider.token={token}"],
                               cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("./kit lab did not start:\n" + (state / "kit-lab.log").read_text()[-3000:])
            time.sleep(0.5)
    try:
        yield url, token, checkout, state / "kit-lab.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_kit_lab_puts_cnnkit_on_path_for_notebooks_and_terminals(chromium, browser, kit_server,
                                                                 tmp_path):
    """In JupyterLab started by `./kit lab`: a notebook cell runs `!cnnkit doctor`, and a terminal
    opened from the launcher runs `cnnkit doctor`, both through the UI; the kernel's TCP warning
    never reaches the terminal that runs ./kit lab."""
    url, token, checkout, server_log = kit_server
    notebook = checkout / "labs" / "path-check.ipynb"
    written = tmp_path / "terminal-doctor.txt"
    document = nbformat.v4.new_notebook()
    document.cells = [nbformat.v4.new_code_cell("!cnnkit doctor")]
    document.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # else JupyterLab asks for one
    nbformat.write(document, notebook)
    page = browser.new_page()
    try:
        page.goto(f"{url}/lab/tree/labs/{notebook.name}?reset&token={token}")
        wait_for_idle_kernel(page)
        # Run the cell as a student would (Ctrl+Enter). A request sent while the page is still
        # connecting to its new kernel can be dropped, so try again until the cell has run.
        for _ in range(4):
            page.locator(f"{PANEL} .jp-Cell .jp-InputArea-editor").first.click()
            page.keyboard.press("Control+Enter")
            try:
                page.wait_for_function(
                    "(panel) => /TensorFlow/.test(document.querySelector(panel).innerText)",
                    arg=PANEL, timeout=45_000)
                break
            except Exception:  # noqa: BLE001 - Playwright's TimeoutError: run it again
                continue
        text = page.locator(PANEL).inner_text()
        assert "TensorFlow" in text and "command not found" not in text, text[-2000:]

        page.goto(f"{url}/lab?reset&token={token}")  # a fresh workspace: the Launcher
        page.locator(".jp-LauncherCard", has_text="Terminal").first.click()
        terminal = page.locator(".jp-Terminal:not(.lm-mod-hidden) .xterm-helper-textarea")
        terminal.wait_for(timeout=60_000)
        terminal.focus()
        page.keyboard.type(f"cnnkit doctor > {written} 2>&1; echo $? >> {written}\n")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (written.is_file() and
                                                   written.read_text().strip()[-1:].isdigit()):
            time.sleep(1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "kit-lab-terminal.png"))
        report = written.read_text()
        assert "TensorFlow" in report and report.strip().endswith("0"), report
        # Its kernel ran over Unix sockets: ipykernel's TCP warning is not in what ./kit lab printed.
        assert "without encryption" not in server_log.read_text()
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "kit-lab-failure.png"))
        raise
    finally:
        page.close()
