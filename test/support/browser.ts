// A browser for HTTP-level tests of the sign-in pages: a cookie jar (per
// host name, as a browser keeps them), redirects followed by hand (so that a
// test sees each hop), and the login and consent forms read from the HTML and
// posted as a browser would. Real-browser tests use chromium; this is for the
// protocol's edges.
import * as undici from 'undici';
import type { Dispatcher } from 'undici';

export interface Page {
  status: number;
  url: string;
  headers: Headers;
  html: string;
  /** The Location of a redirect, absolute. */
  location: string | undefined;
}

export class TestBrowser {
  /** hostname → cookie name → value (cookies, unlike origins, ignore the port: RFC 6265 §8.5) */
  readonly #jar = new Map<string, Map<string, string>>();

  cookies(url: string): Map<string, string> {
    const host = new URL(url).hostname;
    let cookies = this.#jar.get(host);
    if (!cookies) this.#jar.set(host, (cookies = new Map()));
    return cookies;
  }

  async fetch(
    url: string,
    init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const headers: Record<string, string> = { ...init.headers };
    const cookies = [...this.cookies(url)].map(([name, value]) => `${name}=${value}`).join('; ');
    if (cookies) headers.cookie = cookies;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const method = (init.method ?? (body === undefined ? 'GET' : 'POST')) as Dispatcher.HttpMethod;
    // undici's request, not fetch: fetch adds Sec-Fetch-Mode: cors of its own, and a test says which mode it plays.
    const response = await undici.request(url, { method, headers, body });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, item);
    }
    for (const line of responseHeaders.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const expired = attributes.some((a) => /^max-age=0$/i.test(a)) || value === '';
      if (expired) this.cookies(url).delete(name);
      else this.cookies(url).set(name, value);
    }
    const location = responseHeaders.get('location');
    return {
      status: response.statusCode,
      url,
      headers: responseHeaders,
      html: await response.body.text(),
      location: location === null ? undefined : new URL(location, url).href,
    };
  }

  /** Follows redirects while they stay under one of `origins`; returns the first page or foreign redirect. */
  async navigate(url: string, ...origins: string[]): Promise<Page> {
    let page = await this.fetch(url);
    for (let hops = 0; page.location && origins.some((o) => page.location?.startsWith(o)) && hops < 10; hops += 1) {
      page = await this.fetch(page.location);
    }
    return page;
  }

  /** Submits the page's first form with its hidden fields plus `fields` (and the button's name=value). */
  async submit(page: Page, fields: Record<string, string> = {}): Promise<Page> {
    const form = /<form method="post" action="([^"]*)">([\s\S]*?)<\/form>/.exec(page.html);
    if (!form) throw new Error(`no form on the page:\n${page.html.slice(0, 500)}`);
    const action = new URL(unescape(form[1] as string), page.url).href;
    const hidden: Record<string, string> = {};
    for (const input of (form[2] as string).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      hidden[input[1] as string] = unescape(input[2] as string);
    }
    return this.fetch(action, { form: { ...hidden, ...fields } });
  }
}

function unescape(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The text of an element by id, or undefined. */
export function textOf(html: string, id: string): string | undefined {
  return new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)<`).exec(html)?.[1];
}
