// Drives Debian's chromium against a running review app (see tests/review/test_browser.py).
// Session A (alice) watches a clip, accepts it, corrects another sample's caption; session B (bob,
// a separate browser context: its own cookies and websocket) must then see alice's decisions.
// Prints one JSON object with what it measured; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [base, acceptKey, correctKey, caption] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const timeout = 60_000;
const out = {};

async function videoState(page) {
  const video = page.locator("video").first();
  await video.waitFor({ state: "attached", timeout });
  await page.waitForFunction(
    () => { const v = document.querySelector("video"); return v && (v.readyState >= 2 || v.error); },
    null, { timeout },
  );
  return video.evaluate((v) => ({
    readyState: v.readyState, duration: v.duration, width: v.videoWidth,
    error: v.error ? v.error.code : null, src: v.currentSrc.slice(0, 80),
  }));
}

async function pageText(page) {
  return page.evaluate(() => document.body.innerText);
}

const browser = await chromium.launch({
  executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--mute-audio"],
});
try {
  const alice = await (await browser.newContext()).newPage();
  const t0 = Date.now();
  await alice.goto(`${base}/sample?key=${acceptKey}&reviewer=alice`);
  out.video = await videoState(alice);
  out.video.ms = Date.now() - t0;
  await alice.getByRole("button", { name: "Accept" }).click();
  await alice.getByText("Saved: accept").waitFor({ timeout });

  await alice.goto(`${base}/sample?key=${correctKey}&reviewer=alice`);
  await alice.locator("video").first().waitFor({ timeout });
  const box = alice.getByLabel("Caption");
  await box.fill(caption);
  await alice.getByRole("button", { name: "Save correction" }).click();
  await alice.getByText("Saved: correct").waitFor({ timeout });

  const bob = await (await browser.newContext()).newPage();
  await bob.goto(`${base}/sample?key=${correctKey}&reviewer=bob`);
  await bob.getByText("Latest per reviewer").waitFor({ timeout });
  out.bob_corrected = await pageText(bob);
  await bob.goto(`${base}/sample?key=${acceptKey}&reviewer=bob`);
  await bob.getByText("Latest per reviewer").waitFor({ timeout });
  out.bob_accepted = await pageText(bob);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
