// Real-browser tests: Debian's chromium (apt-get install chromium; .ci/run
// installs it), driven by playwright-core pointed at the system binary. No
// browser is ever downloaded. On a developer machine without chromium the
// suites are skipped with a message saying so; in CI (CI set) a missing
// browser fails them instead, so they can never silently stop running.
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// As root (CI containers) chromium refuses to start without --no-sandbox; containers
// often have a small /dev/shm, which crashes renderers unless told to use /tmp.
const ARGS = ['--no-sandbox', '--disable-dev-shm-usage'];

/** Why chromium cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  try {
    fs.accessSync(CHROMIUM_PATH, fs.constants.X_OK);
    return undefined;
  } catch {
    return `no chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`;
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
}

/** A page with everything it reported recorded: console errors, uncaught errors, dialogs (dismissed) and CSP violations. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console messages of type error (chromium reports CSP violations and failed loads there too). */
  consoleErrors: string[];
  pageErrors: string[];
  /** The message of every alert/confirm/prompt the page opened. */
  dialogs: string[];
  /** Console errors that are Content-Security-Policy refusals. */
  cspViolations(): string[];
}

export interface ChromiumSuite {
  readonly browser: Browser;
  /** A fresh context (its own cookies and storage) and page, closed after the test. */
  newPage(options?: BrowserContextOptions): Promise<WatchedPage>;
}

let warned = false;
// One browser for the whole run, started by the first suite that needs it: a launch
// costs seconds, a context (separate cookies and storage) milliseconds.
let shared: Promise<Browser> | undefined;
after(async () => {
  if (shared) await (await shared).close();
});

/** Chromium for the enclosing mocha suite: a fresh context per page, closed after each test. */
export function useChromium(): ChromiumSuite {
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      if (process.env.CI) throw new Error(`browser tests must run in CI: ${missing}`);
      if (!warned) console.warn(`      (browser tests skipped: ${missing})`);
      warned = true;
      this.skip();
    }
    browser = await (shared ??= launchChromium());
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });
  return {
    get browser() {
      if (!browser) throw new Error('chromium is not started: use it inside tests and hooks');
      return browser;
    },
    async newPage(options = {}) {
      if (!browser) throw new Error('chromium is not started: use it inside tests and hooks');
      const context = await browser.newContext(options);
      contexts.push(context);
      const page = await context.newPage();
      const watched: WatchedPage = {
        page,
        context,
        consoleErrors: [],
        pageErrors: [],
        dialogs: [],
        cspViolations: () => watched.consoleErrors.filter((text) => /Content Security Policy/i.test(text)),
      };
      page.on('console', (message) => {
        if (message.type() === 'error') watched.consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => watched.pageErrors.push(error.message));
      page.on('dialog', (dialog) => {
        watched.dialogs.push(dialog.message());
        void dialog.dismiss();
      });
      return watched;
    },
  };
}
