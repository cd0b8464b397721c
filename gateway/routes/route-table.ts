// The live set of routes. Loaded once at start (a bad file throws), then
// hot-reloaded when the file changes: a bad edit is logged and the previous
// routes stay in force, so a typo never takes the gateway down.
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../../common/logger.ts';
import { compileRoutes, RoutesError, type Route, type RoutesFileInput } from './schema.ts';

export interface RouteTableOptions {
  logger: Logger;
  env?: Record<string, string | undefined>;
  /** Debounce for bursts of change events from editors (write, rename, chmod). */
  debounceMs?: number;
}

export type ReloadResult = { ok: true; routes: readonly Route[] } | { ok: false; error: Error };

export class RouteTable extends EventEmitter<{ reload: [ReloadResult] }> {
  #routes: readonly Route[] = [];
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #lastText: string | undefined;
  readonly #path: string | undefined;
  readonly #logger: Logger;
  readonly #env: Record<string, string | undefined>;
  readonly #debounceMs: number;

  private constructor(path: string | undefined, options: RouteTableOptions) {
    super();
    this.#path = path;
    this.#logger = options.logger;
    this.#env = options.env ?? process.env;
    this.#debounceMs = options.debounceMs ?? 50;
  }

  /** Loads routes from a file path (watched for changes) or an inline object (fixed). */
  static async load(source: string | RoutesFileInput, options: RouteTableOptions): Promise<RouteTable> {
    if (typeof source !== 'string') {
      const table = new RouteTable(undefined, options);
      table.#routes = compileRoutes(source, table.#env, 'inline');
      return table;
    }
    const table = new RouteTable(resolve(source), options);
    table.#routes = await table.#readFile();
    return table;
  }

  get routes(): readonly Route[] {
    return this.#routes;
  }

  get path(): string | undefined {
    return this.#path;
  }

  /** Starts watching the file (directory watch, so editors' rename-into-place is seen). */
  watch(): void {
    if (!this.#path || this.#watcher) return;
    const file = basename(this.#path);
    this.#watcher = watch(dirname(this.#path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload(), this.#debounceMs);
    });
    this.#watcher.on('error', (error) => this.#logger.warn({ err: error }, 'routes file watcher failed'));
  }

  /** Re-reads the file; keeps the current routes when the new content is invalid. */
  async reload(): Promise<ReloadResult> {
    if (!this.#path) return { ok: true, routes: this.#routes };
    let result: ReloadResult;
    try {
      const previousText = this.#lastText;
      const routes = await this.#readFile();
      if (this.#lastText === previousText) return { ok: true, routes: this.#routes };
      this.#routes = routes;
      this.#logger.info({ routes: routes.map((r) => r.id), file: this.#path }, 'routes reloaded');
      result = { ok: true, routes };
    } catch (error) {
      const err = error as Error;
      this.#logger.error(
        { file: this.#path, problems: (err as RoutesError).problems, err: err.message },
        'routes file rejected; keeping the previous routes',
      );
      result = { ok: false, error: err };
    }
    this.emit('reload', result);
    return result;
  }

  close(): void {
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  async #readFile(): Promise<Route[]> {
    const path = this.#path as string;
    const text = await readFile(path, 'utf8');
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw new RoutesError(path, [`not valid JSON: ${(error as Error).message}`]);
    }
    const routes = compileRoutes(document, this.#env, path);
    this.#lastText = text;
    return routes;
  }
}
