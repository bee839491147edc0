"""The VS Code extension as users install it: the packaged ``.vsix`` in a real VS Code (code-server,
driven in Debian's Chromium by Playwright), with no settings, against the live local stack.

``scripts/setup-vscode`` (run by ``scripts/test``) installs code-server, Chromium and ripgrep.
Screenshots land in ``.cache/artefacts/vscode/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from sutazai.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "lsp" / "vscode"
CODE_SERVER = ROOT / ".cache" / "code-server" / "node_modules" / ".bin" / "code-server"
CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = ROOT / ".cache" / "artefacts" / "vscode"
# What the machine's probe starts Chromium with: the closed network refuses its background calls.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER_SETTINGS = {  # a quiet window; nothing here names our server
    "workbench.startupEditor": "none",
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "update.mode": "none",
    "workbench.tips.enabled": False,
}

pytestmark = pytest.mark.vscode


def _require_tools() -> None:
    missing = [str(p) for p in (CODE_SERVER, CHROMIUM, EXTENSION / "node_modules") if not p.exists()]
    if missing:  # never a skip: the README's test command installs these
        pytest.fail(f"missing {', '.join(missing)}: run scripts/setup-vscode")


@pytest.fixture(scope="module")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``vsce package`` on a copy of the extension, as a publisher would build it."""
    _require_tools()
    work = tmp_path_factory.mktemp("vsix") / "vscode"
    shutil.copytree(EXTENSION, work, ignore=shutil.ignore_patterns("node_modules", "out", "*.vsix"))
    (work / "node_modules").symlink_to(EXTENSION / "node_modules")
    typecheck = subprocess.run(
        ["npm", "run", "typecheck"], cwd=work, capture_output=True, text=True, timeout=300
    )
    assert typecheck.returncode == 0, typecheck.stdout + typecheck.stderr
    out = work / "sutazai-agents.vsix"
    packaged = subprocess.run(
        ["npx", "vsce", "package", "--out", str(out)], cwd=work, capture_output=True, text=True, timeout=300
    )
    log = packaged.stdout + packaged.stderr
    assert packaged.returncode == 0, log
    assert "WARNING" not in log, log
    return out


def test_the_vsix_carries_the_bundle_and_its_docs_only(vsix: Path) -> None:
    names = set(zipfile.ZipFile(vsix).namelist())
    inside = {n.removeprefix("extension/") for n in names if n.startswith("extension/")}
    assert {"out/extension.js", "package.json", "readme.md", "LICENSE.txt", "changelog.md"} <= inside
    assert "schemas/agent.schema.json" in inside
    assert not [n for n in inside if n.startswith(("src/", "node_modules/")) or n.endswith(".map")]
    manifest = json.loads(zipfile.ZipFile(vsix).read("extension/package.json"))
    assert manifest["repository"] and manifest["license"] == "MIT"
    assert "onLanguage:yaml" not in manifest["activationEvents"]  # silence in other projects
    assert manifest["contributes"]["yamlValidation"][0]["url"] == "./schemas/agent.schema.json"


def test_the_server_search_on_real_folders_and_a_real_interpreter() -> None:
    """``lsp/vscode/test/locate.test.ts`` under node's own test runner: the parts of the search that
    code-server cannot show here (the Python extension's interpreter)."""
    _require_tools()
    result = subprocess.run(
        ["npm", "test"],
        cwd=EXTENSION,
        env={**os.environ, "SUTAZAI_TEST_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "# fail 0" in result.stdout, result.stdout + result.stderr


def test_the_published_schema_is_the_one_the_runtime_validates_with() -> None:
    from sutazai.agents.spec import json_schema

    shipped = json.loads((EXTENSION / "schemas" / "agent.schema.json").read_text())
    assert shipped == json_schema(), "run: sutazai schema > lsp/vscode/schemas/agent.schema.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plain_env(home: Path) -> dict[str, str]:
    """A user's login environment: no virtual environment on PATH, so the extension must find it."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**env, "PATH": path, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


@contextmanager
def code_server(vsix: Path, folder: Path, data: Path) -> Iterator[tuple[str, Path]]:
    """A fresh code-server with only our extension installed; yields the URL opening ``folder`` and
    the user-data folder (its logs)."""
    user, extensions, home = data / "user", data / "extensions", data / "home"
    (user / "User").mkdir(parents=True)
    home.mkdir()
    (user / "User" / "settings.json").write_text(json.dumps(USER_SETTINGS))
    env = _plain_env(home)
    common = ["--user-data-dir", str(user), "--extensions-dir", str(extensions)]
    installed = subprocess.run(
        [str(CODE_SERVER), *common, "--install-extension", str(vsix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    port = _free_port()
    log = (data / "code-server.log").open("w")
    server = subprocess.Popen(
        [
            str(CODE_SERVER),
            *common,
            "--auth",
            "none",
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, (data / "code-server.log").read_text()
                assert time.monotonic() < deadline, "code-server did not answer in 60 s"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/?folder={folder}", user
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@contextmanager
def browser_page(url: str) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.wait_for_selector(".monaco-workbench .part.editor")
            page.wait_for_selector(".statusbar")
            yield page
        finally:
            browser.close()


def _open(page: Page, relative: str) -> None:
    page.keyboard.press("Control+p")
    page.wait_for_selector(".quick-input-widget input")
    page.keyboard.type(relative)
    page.wait_for_selector(f".quick-input-list .monaco-list-row[aria-label*='{Path(relative).name}']")
    page.keyboard.press("Enter")
    page.wait_for_selector(".monaco-editor .view-lines")


def _shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"))


def _channel_log(user: Path) -> str:
    return "\n".join(p.read_text() for p in user.glob("logs/*/exthost*/output_logging_*/*SutazAI agents.log"))


def _activations(user: Path) -> list[str]:
    return [
        line
        for p in user.glob("logs/*/exthost*/remoteexthost.log")
        for line in p.read_text().splitlines()
        if "_doActivateExtension sutazai.sutazai-agents" in line
    ]


@pytest.fixture
def editor_workspace(real_stack: tuple[Workspace, str], tmp_path: Path) -> Path:
    """A copy of the live demo workspace (same gateway, same token) with the project's ``.venv``
    beside it, as a developer's checkout has; ``agent.yaml`` carries a misspelled key."""
    live, _ = real_stack
    root = tmp_path / "project"
    shutil.copytree(live.root, root, ignore=shutil.ignore_patterns(".sutazai"))
    token = live.gateway_token()
    assert token
    copy = Workspace(root)
    copy.private_dir()
    copy.token_file.write_text(token + "\n")
    copy.token_file.chmod(0o600)
    (root / ".venv").symlink_to(Path(sys.prefix))
    spec = root / "agents" / "summarizer" / "agent.yaml"
    spec.write_text(spec.read_text().replace("\nlimits:", "\nlimts:", 1))
    return root


def test_the_extension_works_in_vs_code_with_no_settings(
    vsix: Path, editor_workspace: Path, tmp_path: Path
) -> None:
    spec = editor_workspace / "agents" / "summarizer" / "agent.yaml"
    with code_server(vsix, editor_workspace, tmp_path / "vscode") as (url, user), browser_page(url) as page:
        _open(page, "agents/summarizer/agent.yaml")

        # Diagnostics: the squiggle, the Problems panel, the status bar.
        page.wait_for_selector(".squiggly-error")
        page.keyboard.press("Control+Shift+m")
        problem = page.wait_for_selector(".markers-panel .monaco-list-row:has-text('limts: unknown key')")
        assert "did you mean 'limits'?" in problem.inner_text() and "sutazai" in problem.inner_text()
        assert "1" in page.inner_text("#status\\.problems")
        _shot(page, "problems")
        assert "found in the workspace's virtual environment" in _channel_log(user)

        # Hover documents a key.
        page.locator(".view-line span", has_text=re.compile(r"^kind$")).first.hover()
        hover = page.wait_for_selector(".monaco-hover-content:has-text('document')")
        assert "conversation" in hover.inner_text()
        page.mouse.move(1200, 800)
        page.keyboard.press("Escape")

        # Completion offers what is missing, not what is written.
        page.locator(".view-line span", has_text=re.compile(r"^smoke$")).first.click()
        page.keyboard.press("End")
        page.keyboard.press("Enter")
        page.keyboard.press("Control+Space")
        page.wait_for_selector(".suggest-widget.visible .monaco-list-row")
        labels = {
            row.get_attribute("aria-label") or ""
            for row in page.query_selector_all(".suggest-widget.visible .monaco-list-row")
        }
        offered = {label.split(",")[0].strip() for label in labels}
        assert {"delegates", "model", "seed"} <= offered, labels
        assert not {"name", "description", "kind", "tools", "prompt"} & offered, labels
        _shot(page, "completion")
        page.keyboard.press("Escape")
        page.keyboard.press("Control+z")

        # A quick fix repairs the key; the file on disk has it once saved.
        page.locator(".view-line span", has_text=re.compile(r"^limts$")).first.click()
        page.keyboard.press("Control+.")
        page.wait_for_selector(".action-widget .monaco-list-row.focused:has-text('Change to `limits`')")
        _shot(page, "quick-fix")
        page.keyboard.press("Enter")
        page.wait_for_selector(".view-line span:text-is('limits')")
        page.keyboard.press("Control+s")
        deadline = time.monotonic() + 20
        while "\nlimits:" not in spec.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "\nlimits:" in spec.read_text() and "limts" not in spec.read_text()
        page.wait_for_selector(".squiggly-error", state="detached")

        # The "Run agent" lens runs the agent through the live gateway and says what it answered.
        page.locator(".codelens-decoration a", has_text="Run agent").click()
        toast = page.wait_for_selector(".notification-toast:has-text('summarizer (')", timeout=180_000)
        _shot(page, "run-agent")
        message = toast.inner_text()
        run_id = re.search(r"summarizer \(([^)]+)\)", message)
        assert run_id, message
        runs = subprocess.run(
            [str(Path(sys.executable).parent / "sutazai"), "runs", "summarizer", "--json"],
            cwd=editor_workspace,
            capture_output=True,
            text=True,
            timeout=60,
        )
        recorded = {r["id"]: r for r in json.loads(runs.stdout)}
        run = recorded[run_id.group(1)]
        assert run["status"] == "ok" and run["completion_tokens"] > 0, run  # SmolLM2 answered it


def test_a_clear_message_when_no_server_is_found_then_restart_finds_it(vsix: Path, tmp_path: Path) -> None:
    """No .venv up the tree, no Python extension, nothing on PATH: one message that says what to do,
    with a button to set the path. The user then creates the .venv and runs the restart command."""
    bare = tmp_path / "bare"
    (bare / "agents" / "solo").mkdir(parents=True)
    (bare / "sutazai.toml").write_text("")
    (bare / "agents" / "solo" / "agent.yaml").write_text("name: solo\nprompt: {text: hi}\nlimts: {}\n")
    with code_server(vsix, bare, tmp_path / "vscode") as (url, _), browser_page(url) as page:
        toast = page.wait_for_selector(".notification-toast:has-text('sutazai-lsp was not found')")
        assert "Set path" in toast.inner_text()
        _shot(page, "not-found")
        (bare / ".venv").symlink_to(Path(sys.prefix))
        page.click(".explorer-folders-view")
        page.keyboard.press("F1")
        page.keyboard.type("Restart SutazAI language server")
        page.wait_for_selector(
            ".quick-input-list .monaco-list-row:has-text('Restart SutazAI language server')"
        )
        page.keyboard.press("Enter")
        _open(page, "agents/solo/agent.yaml")
        page.wait_for_selector(".squiggly-error")


def test_an_unrelated_folder_with_yaml_files_stays_silent(vsix: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / ".github" / "workflows").mkdir(parents=True)
    (other / ".github" / "workflows" / "ci.yaml").write_text("on: push\njobs: {}\n")
    (other / "config.yaml").write_text("name: something else\nagents: 3\n")
    with code_server(vsix, other, tmp_path / "vscode") as (url, user), browser_page(url) as page:
        _open(page, "config.yaml")
        page.wait_for_selector(".view-line:has-text('something else')")
        time.sleep(5)  # long enough for an activation and its failure to show
        toasts = [t.inner_text() for t in page.query_selector_all(".notification-toast")]
        assert not [t for t in toasts if "SutazAI" in t or "sutazai" in t or "connection" in t], toasts
        assert _activations(user) == []
