// Drives Debian's chromium against a review app serving a run with a hostile sample (see
// tests/hostile/test_review_app.py). Every page is opened in its own browser context (its own
// session), through the access-token gate when the app has one:
//   bob    opens the hostile sample and keeps it open;
//   eve    (a reviewer whose name carries Markdown) accepts it;
//   bob    interacts, so his page reruns and tells him what eve did meanwhile;
//   mallet opens /sample?key=<Markdown> (no such sample: the error box).
// Prints one JSON object: per page its text, its links and images, every element with an
// attribute naming the injected server (args.beacon, "host:port"),
// the clip's <video> state, and every URL the browser requested.
//   node hostile_review.mjs '{"base", "token", "beacon", "key", "missingKey", "eve"}' (JSON)
import { chromium } from "playwright-core";

const args = JSON.parse(process.argv[2]);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const timeout = 60_000;
const out = { requests: [], pages: {} };

const browser = await chromium.launch({
  executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--mute-audio"],
});

let current = null; // the page being driven: its text goes to stderr if a step fails

async function open(path) {
  const context = await browser.newContext();
  context.on("request", (r) => out.requests.push(r.url()));
  const page = await context.newPage();
  current = page;
  await page.goto(`${args.base}${path}`);
  if (args.token) {
    const box = page.getByLabel("Access token");
    await box.fill(args.token);
    await box.press("Enter");
  }
  return page;
}

async function snapshot(name, page) {
  out.pages[name] = await page.evaluate((beacon) => ({
    text: document.body.innerText,
    links: [...document.querySelectorAll("a")].map((a) => a.href),
    images: [...document.querySelectorAll("img")].map((i) => i.src),
    pointing: [...document.querySelectorAll("[src], [href], [poster], [srcset]")]
      .filter((e) => ["src", "href", "poster", "srcset"]
        .some((a) => (e.getAttribute(a) || "").includes(beacon)))
      .map((e) => e.outerHTML.slice(0, 400)),
  }), args.beacon);
}

const sample = (key, reviewer) =>
  `/sample?key=${encodeURIComponent(key)}&reviewer=${encodeURIComponent(reviewer)}`;

try {
  const bob = await open(sample(args.key, "bob"));
  const video = bob.locator("video").first();
  await video.waitFor({ state: "attached", timeout });
  await bob.waitForFunction(
    () => { const v = document.querySelector("video"); return v && (v.readyState >= 2 || v.error); },
    null, { timeout },
  );
  out.video = await video.evaluate((v) => ({
    readyState: v.readyState, duration: v.duration, error: v.error ? v.error.code : null,
    src: v.currentSrc.slice(0, 40),
  }));
  await bob.getByText("Terms:").waitFor({ timeout });
  await snapshot("sample", bob);

  const eve = await open(sample(args.key, args.eve));
  await eve.locator("video").first().waitFor({ state: "attached", timeout });
  await eve.getByRole("button", { name: "Accept" }).click();
  await eve.getByText("Saved: accept").waitFor({ timeout });
  await snapshot("saved", eve);

  current = bob;
  const details = bob.getByLabel("Details");
  await details.fill("rerun");
  await details.press("Enter");
  await bob.getByText("Since you opened this sample").waitFor({ timeout });
  await snapshot("since", bob);

  const mallet = await open(sample(args.missingKey, "mallet"));
  await mallet.getByText("in this run").waitFor({ timeout });
  await snapshot("missing", mallet);
} catch (e) {
  if (current) console.error(await current.evaluate(() => document.body.innerText));
  throw e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
