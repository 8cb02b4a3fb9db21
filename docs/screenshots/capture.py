"""Headless Chromium screenshots of the open-source dashboard's views of a dataset version and of a model version
summary: the PNGs beside this file, linked from the README.

After a feature run and a training run, with the dashboard up (`make dashboard`):

    .venv/bin/python docs/screenshots/capture.py [--url http://127.0.0.1:8237] [--out docs/screenshots]

Each view is the artifact's side sheet in its run's DAG (the open-source edition lists artifacts nowhere else):
the script opens the run page, clicks the artifact's node, the Visualization tab and "Load Preview", as a user
would, through the Chrome DevTools protocol (Chromium from Debian's packages, `websockets` from the venv).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import websockets

CHROMIUM = "chromium"
WINDOW = (1440, 1100)
SCROLL_TO_STAGES = 1120  # pixels of the dataset report above its curation stages, at 5 sample rows per split
SCROLL_TO_MAP = 0  # the exploration report opens with its counts and topic map
SCROLL_TO_CLUSTERS = 390  # further down: the cluster table below the map

# Finds the visible element whose own text is exactly `text` (the innermost one) and clicks it.
CLICK = """(text) => {
  const all = [...document.querySelectorAll('body *')].filter(
    (e) => e.offsetParent !== null && e.textContent.trim() === text);
  const inner = all.filter((e) => ![...e.children].some((c) => all.includes(c)));
  const target = inner[inner.length - 1];
  if (!target) return false;
  (target.closest('button, a, [role=button], [role=tab], .react-flow__node') || target).click();
  return true;
}"""
# The window down to the end of the visualization's HTML frame (the dashboard shows HTML in a 384 px high iframe),
# or the whole window for a markdown visualization, which has no frame.
VIEW = """() => {
  const frame = document.querySelector('iframe[title="Secure HTML Content"]');
  const bottom = frame ? frame.getBoundingClientRect().bottom + 24 : window.innerHeight;
  return {x: 0, y: 0, width: window.innerWidth, height: Math.min(bottom, window.innerHeight)};
}"""
# The centre of the HTML frame, where a mouse wheel scrolls it (its sandbox keeps scripts out).
FRAME_CENTRE = """() => {
  const frame = document.querySelector('iframe[title="Secure HTML Content"]');
  if (!frame) return null;
  const r = frame.getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height / 2};
}"""


class Page:
    def __init__(self, socket: websockets.ClientConnection, session: str):
        self.socket, self.session, self.ids = socket, session, itertools.count(1)

    async def send(self, method: str, **params: object) -> dict:
        message_id = next(self.ids)
        await self.socket.send(json.dumps({"id": message_id, "method": method, "params": params,
                                           "sessionId": self.session}))  # fmt: skip
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def call(self, function: str, *arguments: object) -> object:
        expression = f"({function})(...{json.dumps(list(arguments))})"
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def click(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not await self.call(CLICK, text):
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing to click with the text {text!r}")
            await asyncio.sleep(0.5)

    async def screenshot(self, path: Path) -> None:
        clip = await self.call(VIEW)
        shot = await self.send("Page.captureScreenshot", format="png", clip={**clip, "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))

    async def scroll_frame(self, pixels: int) -> None:
        centre = await self.call(FRAME_CENTRE)
        if centre is None:
            raise RuntimeError("no HTML frame to scroll")
        await self.send("Input.dispatchMouseEvent", type="mouseWheel", deltaX=0, deltaY=pixels, **centre)


async def capture(browser_ws: str, shots: list[tuple[str, str, list[tuple[int, Path]]]], settle: float) -> None:
    async with websockets.connect(browser_ws, max_size=64 * 2**20) as socket:
        ids = itertools.count(10_000)

        async def browser(method: str, **params: object) -> dict:
            message_id = next(ids)
            await socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
            while True:
                reply = json.loads(await socket.recv())
                if reply.get("id") == message_id:
                    return reply["result"]

        target = await browser("Target.createTarget", url="about:blank")
        attached = await browser("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        page = Page(socket, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1],
                        deviceScaleFactor=1, mobile=False)  # fmt: skip
        for url, artifact, views in shots:
            await page.send("Page.navigate", url=url)
            await asyncio.sleep(settle)
            await page.click(artifact)
            await page.click("Visualization")
            await page.click("Load Preview")
            await asyncio.sleep(settle)
            for scroll, path in views:  # each view scrolls the HTML frame further down first
                if scroll:
                    await page.scroll_frame(scroll)
                    await asyncio.sleep(1)
                await page.screenshot(path)
                print(f"{path} ({path.stat().st_size // 1024} KB): {artifact} at {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8237", help="the dashboard")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder for the PNGs")
    parser.add_argument("--settle", type=float, default=6.0, help="seconds to let a page render")
    parser.add_argument("--only", nargs="*", default=[], help="artifacts to shoot (default: all of them)")
    args = parser.parse_args()

    from zenml.client import Client

    client = Client()
    # The dataset's report twice: its top (counts, samples), then scrolled down to the curation stages.
    wanted = {
        "instruction_dataset": [(0, "dataset-visualization.png"), (SCROLL_TO_STAGES, "dataset-stages.png")],
        "model_summary": [(0, "model-summary.png")],
        # The exploration: its counts and topic map, then the cluster table below the map.
        "instruction_dataset_exploration": [
            (SCROLL_TO_MAP, "exploration-map.png"),
            (SCROLL_TO_CLUSTERS, "exploration-clusters.png"),
        ],  # fmt: skip
    }
    wanted = {artifact: views for artifact, views in wanted.items() if not args.only or artifact in args.only}
    shots = []
    for artifact, views in wanted.items():
        version = client.get_artifact_version(artifact)
        run = client.get_pipeline_run(version.producer_pipeline_run_id)
        url = f"{args.url.rstrip('/')}/projects/{run.project.name}/runs/{run.id}"
        shots.append((url, artifact, [(scroll, args.out / name) for scroll, name in views]))
    with tempfile.TemporaryDirectory() as profile:
        chromium = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert chromium.stderr is not None
            for line in chromium.stderr:
                found = re.search(r"DevTools listening on (ws://\S+)", line)
                if found:
                    break
            else:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            asyncio.run(capture(found.group(1), shots, args.settle))
        finally:
            chromium.terminate()
            chromium.wait(timeout=30)


if __name__ == "__main__":
    main()
