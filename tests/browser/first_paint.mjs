// Time to first paint of the review app's pages in Debian's headless chromium.
// For each page: a fresh browser context (no cache, new session), the clock starts before the
// HTTP request, and stops when the page's main element is in the DOM: the queue's table
// (stDataFrame) or the sample page's <video>. Prints one JSON object.
//   node first_paint.mjs BASE_URL SAMPLE_KEY [REPEATS]
import { chromium } from "playwright-core";

const [base, key, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg || 3);
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const timeout = 120_000;
const pages = {
  queue: { url: `${base}/queue`, selector: '[data-testid="stDataFrame"]' },
  sample: { url: `${base}/sample?key=${key}&reviewer=bench`, selector: "video" },
};

const browser = await chromium.launch({
  executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--mute-audio"],
});
const out = {};
try {
  for (const [name, { url, selector }] of Object.entries(pages)) {
    out[name] = [];
    for (let i = 0; i < repeats; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const t0 = Date.now();
      await page.goto(url);
      await page.locator(selector).first().waitFor({ state: "attached", timeout });
      out[name].push(Date.now() - t0);
      if (name === "queue" && i === 0) {
        out.queue_text = (await page.evaluate(() => document.body.innerText)).slice(0, 3000);
      }
      await context.close();
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
