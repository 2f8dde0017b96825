/**
 * Purge generations of `fsStorage` (R19, P27): one small file per purged object in `<dir>/generations/`, named
 * by the object's key prefix and holding `{"objectKey", "generation"}`. An object without a file was never
 * purged: generation `''`, whose keys are those of earlier versions, so a cache directory stays valid across
 * the upgrade. A purge writes a new random generation (temp file + rename, atomic for every reader), so the
 * keys of the old one are never read again — by this process, by the others sharing `dir`, or by one started
 * later — whatever files of it survive (a fill of another process that wrote after the purge listed them).
 *
 * Other processes learn of a purge through `fs.watch` on the folder (inotify and its kin: one watch, not one
 * per object), and in any case when they next load the object's metadata, since that reads the file.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type FSWatcher, mkdirSync, readFile, watch } from 'node:fs';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { objectKeyPrefix } from '../core/keys.js';
import type { Logger } from '../ports.js';
import { errorCode, makeDir, writeAtomically } from './fs-io.js';

/**
 * The generation files of one cache directory.
 *
 * @example
 * ```ts
 * const generations = new FsGenerations('/var/cache/slices', logger);
 * const stop = generations.watch((objectKey) => console.log('purged elsewhere', objectKey));
 * await generations.bump('https://example.com/a.bin');
 * ```
 */
export class FsGenerations {
  readonly #dir: string;
  readonly #logger: Logger | undefined;
  /** The generation last read, written or noticed per object prefix: a notice of it again is no news. */
  readonly #seen = new LRUCache<string, string>({ max: 65_536 });
  readonly #listeners = new Set<(objectKey: string) => void>();
  #watcher: FSWatcher | undefined;

  /** `dir`: the store's cache directory (the files live in its `generations/` folder). */
  constructor(dir: string, logger: Logger | undefined) {
    this.#dir = join(dir, FOLDER);
    this.#logger = logger;
  }

  /** The object's generation: `''` when it was never purged. Rejects with Node's error on an I/O failure. */
  async read(objectKey: string): Promise<string> {
    const prefix = objectKeyPrefix(objectKey);
    // Not noted as seen: a notice must still reach the engine, which may hold the object in other scopes.
    return (await this.#readFile(prefix))?.generation ?? '';
  }

  /** Moves the object to a new random generation; resolves once the file is in place. */
  async bump(objectKey: string): Promise<void> {
    const prefix = objectKeyPrefix(objectKey);
    const generation = newGeneration();
    this.#seen.set(prefix, generation); // our own notice is no news to us
    const body = Buffer.from(JSON.stringify({ objectKey, generation }), 'utf8');
    await writeAtomically(join(this.#dir, prefix), [body], () => makeDir(this.#dir));
  }

  /**
   * Calls `listener` with the object key of every purge another process makes in this directory, until the
   * returned function is called. A folder that cannot be watched is logged and leaves the engine to notice a
   * purge when it next loads the object.
   */
  watch(listener: (objectKey: string) => void): () => void {
    this.#listeners.add(listener);
    if (this.#watcher === undefined) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.close();
    };
  }

  /** Stops watching. */
  close(): void {
    this.#listeners.clear();
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  #start(): void {
    try {
      mkdirSync(this.#dir, { recursive: true });
      // Not persistent: a cache's watch must not keep a process alive that has nothing else to do.
      const watcher = watch(this.#dir, { persistent: false }, (_event, name) => {
        if (typeof name === 'string' && PREFIX_NAME.test(name)) void this.#notice(name);
      });
      watcher.on('error', (error) => {
        this.#logger?.warn({ dir: this.#dir, error }, 'fsStorage stopped watching for purges');
        if (this.#watcher === watcher) this.#watcher = undefined;
        watcher.close();
      });
      this.#watcher = watcher;
    } catch (error) {
      this.#logger?.warn({ dir: this.#dir, error }, 'fsStorage cannot watch for purges');
    }
  }

  async #notice(prefix: string): Promise<void> {
    let file: GenerationFile | undefined;
    try {
      file = await this.#readFile(prefix);
    } catch {
      return; // unreadable now; the next load reads it again
    }
    if (file === undefined || file.objectKey === '' || this.#seen.get(prefix) === file.generation) return;
    this.#seen.set(prefix, file.generation);
    for (const listener of [...this.#listeners]) listener(file.objectKey);
  }

  async #readFile(prefix: string): Promise<GenerationFile | undefined> {
    let text: string;
    try {
      text = await new Promise<string>((resolve, reject) =>
        readFile(join(this.#dir, prefix), 'utf8', (error, data) => (error ? reject(error) : resolve(data))),
      );
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    return parseFile(text);
  }
}

// ---------------------------------------------------------------------------------------------------------

/** The folder of generation files inside the cache directory; the index scan only walks 2-hex folders. */
const FOLDER = 'generations';
const PREFIX_NAME = /^[0-9a-f]{32}$/;

interface GenerationFile {
  readonly objectKey: string;
  readonly generation: string;
}

/**
 * A generation file's content. A file that does not parse (torn by a crash, which rename makes unlikely) is
 * a generation of its own — its text hashed into one — never `''`: that could bring purged keys back.
 */
function parseFile(text: string): GenerationFile {
  try {
    const parsed = JSON.parse(text) as Partial<GenerationFile>;
    if (
      typeof parsed.objectKey === 'string' &&
      typeof parsed.generation === 'string' &&
      parsed.generation !== ''
    )
      return { objectKey: parsed.objectKey, generation: parsed.generation };
  } catch {
    // below
  }
  return { objectKey: '', generation: `unparsed ${objectKeyPrefix(text)}` };
}

function newGeneration(): string {
  return randomBytes(8).toString('hex');
}
