/**
 * @module A configurable `node:http` origin for the end-to-end tests and benchmarks: serves virtual objects of
 * any size from {@link contentBytes}, answers `Range` and conditional requests per RFC 9110, can be throttled,
 * delayed and told to misbehave through a fault schedule, and counts everything that reaches it.
 *
 * One request pipeline, in this order: count → pick faults → wait → decide status → headers → paced body.
 *
 * Choices worth knowing:
 * - A multi-range request (`bytes=0-1,5-9`) is answered `200` with the full body (RFC 9110 §14.2 allows a
 *   server to ignore `Range`); a malformed `Range` is ignored the same way.
 * - Every matching fault rule applies to a request (each consumes one of its `times`), in the order added;
 *   `status` and `hang` end the pipeline early.
 * - `n` in a fault matcher, `stats.byPath` and `rangeCounts()` count from the last {@link TestOrigin.resetStats}.
 * - `stats.bytesSent` counts body bytes handed to sockets (headers excluded).
 * - Validator faults (`etag`, `last-modified`) rewrite only the response header: preconditions are evaluated
 *   against the object's real validators, as behind a middlebox that mangles the header on the way out.
 * - An object with {@link ObjectSpec.vary} serves one variant per value of a request header; every response
 *   about it (200, 206, 304, 412, 416, HEAD) says `Vary`.
 */
import { EventEmitter } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { contentBytes, contentEtag, fillContent, MAX_CONTENT_SIZE } from './content.js';

/**
 * One way a response can misbehave; see {@link FaultRule}.
 *
 * The validator faults (`etag`, `last-modified`) change only what the response says, as a middlebox that
 * rewrites or strips the header on the way would: the origin still evaluates `If-Match`, `If-None-Match`,
 * `If-Unmodified-Since`, `If-Modified-Since` and `If-Range` against the object's real, current validators.
 */
export type Fault =
  /** Answer this status (with an optional `Retry-After` and text body) instead of the object. */
  | { readonly type: 'status'; readonly status: number; readonly retryAfter?: string; readonly body?: string }
  /** Send the headers and `afterBytes` body bytes, then reset the TCP connection (RST); `beforeHeaders` resets first. */
  | { readonly type: 'reset'; readonly afterBytes: number; readonly beforeHeaders?: boolean }
  /** Declare the full `Content-Length`, send only `afterBytes` body bytes, then end the socket. */
  | { readonly type: 'truncate'; readonly afterBytes: number }
  /** Lie in `Content-Range` (each part defaults to the truth); the body is what was asked for. */
  | {
      readonly type: 'content-range';
      readonly start?: number;
      readonly end?: number;
      readonly total?: number | '*';
    }
  /** This response's `ETag` header says `value`, or is absent (`null`); preconditions still see the real one. */
  | { readonly type: 'etag'; readonly value: string | null }
  /** This response's `Last-Modified` header says `value`, or is absent (`null`); preconditions see the real one. */
  | { readonly type: 'last-modified'; readonly value: string | null }
  /** Answer `200` with the full body whatever the `Range`. */
  | { readonly type: 'ignore-range' }
  /** Chunked body, no `Content-Length`, `Content-Range: bytes a-b/*`. */
  | { readonly type: 'no-length' }
  /** `Content-Encoding: gzip` and a gzipped body of the requested identity bytes (built in memory: keep it small). */
  | { readonly type: 'gzip' }
  /** Answer `416` when the requested last byte is ≥ size instead of clamping it (RFC 9110 §14.1.1 says clamp). */
  | { readonly type: 'past-eof-416' }
  /** Wait `ms` more before the headers. */
  | { readonly type: 'latency'; readonly ms: number }
  /** Never answer; the request ends when the client gives up or the origin closes. */
  | { readonly type: 'hang' }
  /** Hold the response until `until` settles, then answer normally — a gate for deterministic concurrency tests. */
  | { readonly type: 'wait'; readonly until: PromiseLike<unknown> }
  /**
   * Permanently replace the object by a new version before answering (seed defaults to the old seed + 1). The
   * `vary` spec is kept as it was: the variants listed in its `seeds` keep their bytes (a new `size` applies to
   * them too), only the default variant takes the new seed.
   */
  | {
      readonly type: 'change-object';
      readonly size?: number;
      readonly seed?: number;
      readonly etag?: string | null;
      readonly lastModified?: string | null;
    };

/** What a fault matcher sees of a request. */
export interface FaultRequest {
  readonly method: string;
  readonly path: string;
  /** The `Range` satisfied against the current object, when it is a single satisfiable range. */
  readonly range?: { readonly start: number; readonly end: number };
  readonly rangeHeader?: string;
  /** 1-based count of requests for this path since the last `resetStats()`, this one included. */
  readonly n: number;
  readonly headers: IncomingHttpHeaders;
}

/** A scheduled fault: applies to requests for `path` (any path if omitted) accepted by `match`, `times` times. */
export interface FaultRule {
  readonly path?: string;
  readonly match?: (req: FaultRequest) => boolean;
  /** @default 1 (Infinity allowed) */
  readonly times?: number;
  readonly fault: Fault;
}

/**
 * Variants of one object selected by a request header (see {@link ObjectSpec.vary}).
 *
 * @example
 * origin.setObject('/v', { size: 1000, vary: { header: 'accept-language', seeds: { fr: 11, de: 12 } } });
 */
export interface VarySpec {
  /** The request header (lower-case) that selects the variant; echoed as given in `Vary`. */
  readonly header: string;
  /** Request header value → content seed of that variant; a missing or unlisted value gets the object's `seed`. */
  readonly seeds: Readonly<Record<string, number>>;
}

/** How an object is registered with {@link TestOrigin.setObject}. */
export interface ObjectSpec {
  readonly size: number;
  /** @default a hash of the path, so two objects never share bytes */
  readonly seed?: number;
  /**
   * `null` = no ETag; a string is shared by every variant.
   * @default the strong {@link contentEtag}(seed, size), of each variant's own seed with `vary`
   */
  readonly etag?: string | null;
  /** `null` = no Last-Modified. @default `Mon, 01 Jan 2024 00:00:00 GMT` */
  readonly lastModified?: string | null;
  /** @default `application/octet-stream` */
  readonly contentType?: string;
  readonly cacheControl?: string;
  /** Extra response headers (lower-case names). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /**
   * Serve variants by a request header: the bytes are `contentBytes(variantSeed, …)`, each variant has its
   * own default ETag, Last-Modified is shared, and every response carries `Vary: <header>`. `'*'` answers
   * `Vary: *` with the object's own bytes.
   */
  readonly vary?: VarySpec | '*';
}

/** An object as the origin currently serves it. */
export interface OriginObject {
  readonly path: string;
  readonly size: number;
  readonly seed: number;
  readonly etag: string | null;
  readonly lastModified: string | null;
  readonly contentType: string;
  readonly cacheControl: string | undefined;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** As registered (kept by `change-object`); `seed` and `etag` above are those of the default variant. */
  readonly vary: VarySpec | '*' | undefined;
  /** 1 when registered, +1 per `change-object`. */
  readonly version: number;
}

/** Behaviour knobs, settable at start and at run time with {@link TestOrigin.configure}. */
export interface OriginKnobs {
  /** Per-connection body rate (token bucket per socket, chunks ≤ 64 KiB); 0 = unlimited. @default 0 */
  readonly throttleBytesPerSecond?: number;
  /** Delay before the response headers. @default 0 */
  readonly latencyMs?: number;
  /** Always answer `200` with the full body. @default false */
  readonly ignoreRange?: boolean;
  /** Body write size when not throttled. @default 262144 */
  readonly chunkBytes?: number;
}

/** Options of {@link startOrigin}. */
export interface OriginOptions extends OriginKnobs {
  /** Entries kept in `stats.log`. @default 10000 */
  readonly logLimit?: number;
}

/** One request as the origin saw it. */
export interface OriginLogEntry {
  readonly method: string;
  readonly path: string;
  /** The raw request target, query included. */
  readonly url: string;
  readonly range?: string;
  /** 0 until the response headers are sent (stays 0 for `hang`, `reset` before headers). */
  status: number;
  readonly headers: IncomingHttpHeaders;
  readonly n: number;
  /** Types of the faults applied. */
  readonly faults: string[];
  bytesSent: number;
}

/** Live counters; `resetStats()` zeroes the cumulative ones in place. */
export interface OriginStats {
  requests: number;
  bytesSent: number;
  openConnections: number;
  maxOpenConnections: number;
  inFlight: number;
  maxInFlight: number;
  /** Times a throttled write waited for tokens. */
  throttleWaits: number;
  /** Times a write returned `false` and the body waited for `'drain'`. */
  drainWaits: number;
  readonly byPath: Map<string, number>;
  readonly log: OriginLogEntry[];
}

/** Events: `request` on arrival, `response` when it finished or closed, `backpressure` on each drain wait. */
export interface OriginEvents {
  request: [entry: OriginLogEntry];
  response: [entry: OriginLogEntry];
  backpressure: [entry: OriginLogEntry];
}

/**
 * Starts a test origin on 127.0.0.1 with an ephemeral port.
 *
 * @example
 * const origin = await startOrigin({ throttleBytesPerSecond: 10_000_000 });
 * const { seed } = origin.setObject('/big.bin', { size: 64 * 1024 * 1024 });
 * const res = await request(origin.url('/big.bin'), { headers: { range: 'bytes=0-1023' } });
 * expect(Buffer.from(await res.body.arrayBuffer())).toEqual(contentBytes(seed, 0, 1023));
 * await origin.close();
 */
export function startOrigin(options: OriginOptions = {}): Promise<TestOrigin> {
  return TestOrigin.start(options);
}

/**
 * The running origin; create it with {@link startOrigin}. `stats` is live: copy what you want to compare later.
 *
 * @example
 * origin.setObject('/a', { size: 4 * 1024 * 1024 });
 * origin.addFault({ path: '/a', match: (r) => r.n === 1, fault: { type: 'status', status: 503, retryAfter: '0' } });
 * await sliceFetch(origin.url('/a'));
 * expect([...origin.rangeCounts('/a').values()]).toEqual([2, 1, 1, 1]);
 */
export class TestOrigin extends EventEmitter<OriginEvents> {
  readonly #server: Server;
  readonly #objects = new Map<string, OriginObject>();
  /** Objects whose ETag was given as a string (shared by every variant) rather than derived from the seed. */
  readonly #explicitEtags = new WeakSet<OriginObject>();
  readonly #rules: Array<{ rule: FaultRule; left: number }> = [];
  readonly #ranges = new Map<string, Map<string, number>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #waiters = new Set<{ test: (stats: OriginStats) => boolean; resolve: () => void }>();
  readonly #buckets = new WeakMap<Socket, { tokens: number; at: number }>();
  readonly #pool: Buffer[] = [];
  readonly #logLimit: number;
  #knobs: Required<OriginKnobs>;
  #port = 0;
  #closed = false;
  /** The live counters (one object for the origin's lifetime). */
  readonly stats: OriginStats = {
    requests: 0,
    bytesSent: 0,
    openConnections: 0,
    maxOpenConnections: 0,
    inFlight: 0,
    maxInFlight: 0,
    throttleWaits: 0,
    drainWaits: 0,
    byPath: new Map(),
    log: [],
  };

  /** @internal use {@link startOrigin} */
  static async start(options: OriginOptions): Promise<TestOrigin> {
    const origin = new TestOrigin(options);
    await origin.#listen();
    return origin;
  }

  private constructor(options: OriginOptions) {
    super();
    this.#logLimit = options.logLimit ?? 10_000;
    this.#knobs = { throttleBytesPerSecond: 0, latencyMs: 0, ignoreRange: false, chunkBytes: 256 * 1024 };
    this.configure(options);
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => {
      const s = this.stats;
      s.openConnections++;
      s.maxOpenConnections = Math.max(s.maxOpenConnections, s.openConnections);
      socket.once('close', () => {
        s.openConnections--;
        this.#notify();
      });
      this.#notify();
    });
  }

  /** The bound port. */
  get port(): number {
    return this.#port;
  }

  /**
   * `http://127.0.0.1:PORT/path`.
   *
   * @example
   * await request(origin.url('/a.bin'));
   */
  url(path: string): string {
    return `http://127.0.0.1:${this.#port}${path.startsWith('/') ? path : `/${path}`}`;
  }

  /**
   * Changes the behaviour knobs; takes effect for the next header wait or body chunk, also mid-response.
   *
   * @example
   * origin.configure({ throttleBytesPerSecond: 1_000_000, latencyMs: 20 });
   */
  configure(knobs: OriginKnobs): void {
    const next = { ...this.#knobs };
    if (knobs.throttleBytesPerSecond !== undefined) {
      next.throttleBytesPerSecond = nonNegative(knobs.throttleBytesPerSecond, 'throttleBytesPerSecond');
    }
    if (knobs.latencyMs !== undefined) next.latencyMs = nonNegative(knobs.latencyMs, 'latencyMs');
    if (knobs.ignoreRange !== undefined) next.ignoreRange = knobs.ignoreRange;
    if (knobs.chunkBytes !== undefined)
      next.chunkBytes = Math.max(1, nonNegative(knobs.chunkBytes, 'chunkBytes'));
    this.#knobs = next;
  }

  /**
   * Registers (or replaces) the object served at `path`; returns it with every default resolved.
   *
   * @example
   * const { seed, etag } = origin.setObject('/v.bin', { size: 5_000_000, lastModified: null });
   */
  setObject(path: string, spec: ObjectSpec): OriginObject {
    if (!Number.isSafeInteger(spec.size) || spec.size < 0 || spec.size > MAX_CONTENT_SIZE) {
      throw new RangeError(
        `Expected \`size\` to be an integer between 0 and ${MAX_CONTENT_SIZE}, got \`${spec.size}\`.`,
      );
    }
    if (spec.seed !== undefined && !Number.isSafeInteger(spec.seed)) {
      throw new RangeError(`Expected \`seed\` to be an integer, got \`${spec.seed}\`.`);
    }
    const vary = checkVary(spec.vary);
    const seed = spec.seed ?? fnv1a(path);
    const object: OriginObject = {
      path,
      size: spec.size,
      seed,
      etag: spec.etag === undefined ? contentEtag(seed, spec.size) : spec.etag,
      lastModified: spec.lastModified === undefined ? DEFAULT_LAST_MODIFIED : spec.lastModified,
      contentType: spec.contentType ?? 'application/octet-stream',
      cacheControl: spec.cacheControl,
      headers: spec.headers ?? {},
      vary,
      version: 1,
    };
    if (typeof spec.etag === 'string') this.#explicitEtags.add(object);
    this.#objects.set(path, object);
    return object;
  }

  /**
   * The object currently served at `path` (after any `change-object`), or undefined.
   *
   * @example
   * const { seed, size } = origin.getObject('/v.bin')!;
   */
  getObject(path: string): OriginObject | undefined {
    return this.#objects.get(path);
  }

  /**
   * Stops serving `path` (later requests get 404).
   *
   * @example
   * origin.deleteObject('/v.bin');
   */
  deleteObject(path: string): void {
    this.#objects.delete(path);
  }

  /**
   * Schedules a fault; rules apply in the order added.
   *
   * @example
   * origin.addFault({ path: '/a', match: (r) => r.range?.start === 1048576, fault: { type: 'status', status: 503 } });
   */
  addFault(rule: FaultRule): void {
    const times = rule.times ?? 1;
    if (!(times >= 0)) throw new RangeError(`Expected \`times\` to be >= 0, got \`${times}\`.`);
    this.#rules.push({ rule, left: times });
  }

  /**
   * Removes every scheduled fault.
   *
   * @example
   * origin.clearFaults();
   */
  clearFaults(): void {
    this.#rules.length = 0;
  }

  /**
   * How often each `Range` (the part after `bytes=`, whitespace removed, e.g. `"0-1048575"`) was asked for `path`.
   *
   * @example
   * expect([...origin.rangeCounts('/a').values()].every((n) => n === 1)).toBe(true);
   */
  rangeCounts(path: string): Map<string, number> {
    return new Map(this.#ranges.get(path));
  }

  /**
   * Zeroes the cumulative counters, the per-path counts, the range counts and the log; the peaks restart
   * from the current values.
   *
   * @example
   * origin.resetStats();
   */
  resetStats(): void {
    const s = this.stats;
    s.requests = 0;
    s.bytesSent = 0;
    s.throttleWaits = 0;
    s.drainWaits = 0;
    s.maxOpenConnections = s.openConnections;
    s.maxInFlight = s.inFlight;
    s.byPath.clear();
    s.log.length = 0;
    this.#ranges.clear();
  }

  /**
   * Resolves as soon as `test(stats)` holds; re-checked on every counter change (no polling).
   *
   * @example
   * await origin.waitFor((s) => s.inFlight === 4);
   */
  waitFor(test: (stats: OriginStats) => boolean): Promise<void> {
    if (test(this.stats)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add({ test, resolve }));
  }

  /**
   * Resolves when no connection is open (close the client's keep-alive pool, or call
   * {@link closeIdleConnections}, first).
   *
   * @example
   * await agent.close();
   * await origin.waitForIdle();
   */
  waitForIdle(): Promise<void> {
    return this.waitFor((s) => s.openConnections === 0);
  }

  /**
   * Resolves when no request is in flight (every response finished or closed).
   *
   * @example
   * controller.abort();
   * await origin.waitForNoInFlight();
   */
  waitForNoInFlight(): Promise<void> {
    return this.waitFor((s) => s.inFlight === 0);
  }

  /**
   * Closes keep-alive connections that carry no request.
   *
   * @example
   * origin.closeIdleConnections();
   */
  closeIdleConnections(): void {
    this.#server.closeIdleConnections();
  }

  /**
   * Destroys every socket, cancels pending delays and stops listening.
   *
   * @example
   * afterAll(() => origin.close());
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    // The server's 'close' and the sockets' 'close' events race; wait for both so the counters are final.
    await Promise.all([closed, this.waitForIdle()]);
  }

  async #listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const method = req.method ?? 'GET';
    const rangeHeader = headerText(req.headers.range);
    const s = this.stats;
    s.requests++;
    const n = (s.byPath.get(path) ?? 0) + 1;
    s.byPath.set(path, n);
    s.inFlight++;
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
    if (rangeHeader !== undefined) {
      const key = rangeKey(rangeHeader);
      let counts = this.#ranges.get(path);
      if (counts === undefined) {
        counts = new Map();
        this.#ranges.set(path, counts);
      }
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const entry: OriginLogEntry = {
      method,
      path,
      url,
      status: 0,
      headers: req.headers,
      n,
      faults: [],
      bytesSent: 0,
    };
    if (rangeHeader !== undefined) (entry as { range?: string }).range = rangeHeader;
    s.log.push(entry);
    if (s.log.length > this.#logLimit) s.log.shift();

    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      s.inFlight--;
      this.emit('response', entry);
      this.#notify();
    };
    res.once('finish', finish);
    res.once('close', finish);
    this.emit('request', entry);
    this.#notify();

    const plan = this.#planFaults(method, path, n, rangeHeader, req.headers, entry);
    this.#respond(req, res, path, entry, plan).catch((error: unknown) => {
      // A bug in the origin must be loud in tests, but never crash the process mid-suite.
      console.error('test origin failed to answer', error);
      res.destroy();
    });
  }

  #planFaults(
    method: string,
    path: string,
    n: number,
    rangeHeader: string | undefined,
    headers: IncomingHttpHeaders,
    entry: OriginLogEntry,
  ): Plan {
    const plan: Plan = { latencyMs: 0, waits: [] };
    if (this.#rules.length === 0) return plan;
    const object = this.#objects.get(path);
    let range: { start: number; end: number } | undefined;
    if (rangeHeader !== undefined && object !== undefined) {
      const parsed = parseRange(rangeHeader, object.size);
      if (parsed.kind === 'single') range = { start: parsed.start, end: parsed.end };
    }
    const view: { -readonly [K in keyof FaultRequest]: FaultRequest[K] } = { method, path, n, headers };
    if (range !== undefined) view.range = range;
    if (rangeHeader !== undefined) view.rangeHeader = rangeHeader;
    for (const slot of this.#rules) {
      const { rule } = slot;
      if (slot.left <= 0 || (rule.path !== undefined && rule.path !== path)) continue;
      if (rule.match !== undefined && !rule.match(view)) continue;
      slot.left--;
      entry.faults.push(rule.fault.type);
      applyFault(plan, rule.fault);
    }
    return plan;
  }

  async #respond(req: IncomingMessage, res: ServerResponse, path: string, entry: OriginLogEntry, plan: Plan) {
    if (plan.change !== undefined) this.#changeObject(path, plan.change);
    const delay = this.#knobs.latencyMs + plan.latencyMs;
    if (delay > 0) await this.#delay(delay, res);
    for (const gate of plan.waits) await Promise.race([gate, closedOf(res)]);
    if (res.destroyed || plan.hang === true) return;
    const socket = req.socket;
    if (plan.reset?.beforeHeaders === true) {
      socket.resetAndDestroy();
      return;
    }
    if (plan.status !== undefined) {
      const { status, retryAfter, body = '' } = plan.status;
      const headers: OutgoingHttpHeaders = {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
      };
      if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
      return this.#sendSmall(req, res, entry, status, headers, body);
    }
    const object = this.#objects.get(path);
    if (object === undefined) return this.#sendSmall(req, res, entry, 404, textHeaders(9), 'Not Found');
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      return this.#sendSmall(req, res, entry, 405, { ...textHeaders(0), allow: 'GET, HEAD' }, '');
    }

    // Preconditions see the real validators of the selected variant; validator faults only rewrite the headers.
    const { seed, etag } = selectVariant(object, this.#explicitEtags.has(object), req.headers);
    const { size, lastModified } = object;
    const sentEtag = plan.etag !== undefined ? plan.etag : etag;
    const sentLastModified = plan.lastModified !== undefined ? plan.lastModified : lastModified;
    const headers: OutgoingHttpHeaders = { 'accept-ranges': 'bytes', ...object.headers };
    if (sentEtag !== null) headers.etag = sentEtag;
    if (sentLastModified !== null) headers['last-modified'] = sentLastModified;
    if (object.cacheControl !== undefined) headers['cache-control'] = object.cacheControl;
    const vary = object.vary === undefined ? undefined : object.vary === '*' ? '*' : object.vary.header;
    if (vary !== undefined) headers.vary = vary;

    const precondition = evaluatePreconditions(req.headers, method, etag, lastModified);
    if (precondition === 304) {
      // §15.4.5: a 304 carries the validators, Cache-Control and Vary but no content, so no Content-Length.
      return this.#sendSmall(req, res, entry, 304, headers, '');
    }
    if (precondition === 412) {
      // No body, no Content-Range; `Vary` because which variant's validators failed depends on the header.
      const h412 = vary === undefined ? textHeaders(0) : { ...textHeaders(0), vary };
      return this.#sendSmall(req, res, entry, 412, h412, '');
    }
    headers['content-type'] = object.contentType;

    let start = 0;
    let end = size - 1;
    let partial = false;
    const rangeHeader = headerText(req.headers.range);
    if (rangeHeader !== undefined && !this.#knobs.ignoreRange && plan.ignoreRange !== true) {
      const ifRange = headerText(req.headers['if-range']);
      const parsed =
        ifRange === undefined || ifRangeMatches(ifRange, etag, lastModified)
          ? parseRange(rangeHeader, size)
          : NOT_A_RANGE;
      const pastEof = plan.pastEof416 === true && parsed.kind === 'single' && (parsed.lastPos ?? 0) >= size;
      if (parsed.kind === 'unsatisfiable' || pastEof) {
        // RFC 9110 §15.5.17: a 416 names the current length in `Content-Range: bytes */size`.
        const h416 = { ...headers, 'content-range': `bytes */${size}`, 'content-length': 0 };
        return this.#sendSmall(req, res, entry, 416, h416, '');
      }
      if (parsed.kind === 'single') {
        ({ start, end } = parsed);
        partial = true;
      }
    }

    const length = Math.max(0, end - start + 1);
    let body: BodySource = { seed, start, length };
    if (plan.gzip === true) {
      const packed = gzipSync(contentBytes(seed, start, start + length - 1));
      body = { buffer: packed, length: packed.length };
      headers['content-encoding'] = 'gzip';
    }
    if (partial) {
      const lie = plan.contentRange;
      const total = lie?.total ?? (plan.noLength === true ? '*' : size);
      headers['content-range'] = `bytes ${lie?.start ?? start}-${lie?.end ?? end}/${total}`;
    }
    if (plan.noLength !== true) headers['content-length'] = body.length;

    const status = partial ? 206 : 200;
    entry.status = status;
    res.writeHead(status, headers);
    const limit =
      method === 'HEAD' ? 0 : Math.min(body.length, plan.truncate ?? plan.reset?.afterBytes ?? Infinity);
    const completed = await this.#sendBody(res, socket, entry, body, limit);
    if (!completed) return;
    if ((plan.reset !== undefined || plan.truncate !== undefined) && limit === 0) res.flushHeaders();
    if (plan.reset !== undefined) {
      // Wait until the written bytes reached the kernel, so the client sees them before the RST.
      socket.write(EMPTY, () => socket.resetAndDestroy());
    } else if (plan.truncate !== undefined && limit < body.length) {
      socket.end();
    } else {
      res.end();
    }
  }

  /** Writes `limit` body bytes: throttled per socket, always waiting for `'drain'` when a write says so. */
  async #sendBody(
    res: ServerResponse,
    socket: Socket,
    entry: OriginLogEntry,
    body: BodySource,
    limit: number,
  ): Promise<boolean> {
    let sent = 0;
    while (sent < limit) {
      if (res.destroyed) return false;
      const rate = this.#knobs.throttleBytesPerSecond;
      const n = Math.min(limit - sent, rate > 0 ? throttleChunk(rate) : this.#knobs.chunkBytes);
      if (rate > 0) {
        await this.#takeTokens(res, socket, n);
        if (res.destroyed) return false;
      }
      let ok: boolean;
      if ('buffer' in body) {
        ok = res.write(body.buffer.subarray(sent, sent + n));
      } else {
        // Fresh large Buffers cost an mmap and page faults each; recycling them once written keeps the
        // serving path at memcpy speed.
        const pooled = this.#takeBuffer(n);
        fillContent(body.seed, body.start + sent, pooled, 0, n);
        const chunk = n === pooled.length ? pooled : pooled.subarray(0, n);
        ok = res.write(chunk, (error) => {
          if (error == null && this.#pool.length < POOL_LIMIT) this.#pool.push(pooled);
        });
      }
      sent += n;
      this.stats.bytesSent += n;
      entry.bytesSent += n;
      if (!ok) {
        this.stats.drainWaits++;
        this.emit('backpressure', entry);
        await drainOf(res);
      }
      if (this.#waiters.size > 0) this.#notify();
    }
    return !res.destroyed;
  }

  #takeBuffer(n: number): Buffer {
    const size = Math.max(this.#knobs.chunkBytes, MAX_THROTTLE_CHUNK);
    if (n > size) return Buffer.allocUnsafe(n);
    for (let buffer = this.#pool.pop(); buffer !== undefined; buffer = this.#pool.pop()) {
      if (buffer.length === size) return buffer;
    }
    return Buffer.allocUnsafe(size);
  }

  /** Token bucket per socket (capacity one throttled chunk), refilled at the current rate. */
  async #takeTokens(res: ServerResponse, socket: Socket, n: number): Promise<void> {
    let bucket = this.#buckets.get(socket);
    if (bucket === undefined) {
      bucket = { tokens: n, at: performance.now() };
      this.#buckets.set(socket, bucket);
    }
    for (;;) {
      const rate = this.#knobs.throttleBytesPerSecond;
      const now = performance.now();
      const capacity = Math.max(n, throttleChunk(rate || 1));
      bucket.tokens =
        rate > 0 ? Math.min(capacity, bucket.tokens + ((now - bucket.at) * rate) / 1000) : capacity;
      bucket.at = now;
      if (bucket.tokens >= n) {
        bucket.tokens -= n;
        return;
      }
      this.stats.throttleWaits++;
      await this.#delay(Math.ceil(((n - bucket.tokens) * 1000) / rate), res);
      if (res.destroyed) return;
    }
  }

  #sendSmall(
    req: IncomingMessage,
    res: ServerResponse,
    entry: OriginLogEntry,
    status: number,
    headers: OutgoingHttpHeaders,
    body: string,
  ): void {
    entry.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || body === '') {
      res.end();
      return;
    }
    const bytes = Buffer.byteLength(body);
    this.stats.bytesSent += bytes;
    entry.bytesSent += bytes;
    res.end(body);
  }

  #changeObject(path: string, change: Extract<Fault, { type: 'change-object' }>): void {
    const old = this.#objects.get(path);
    if (old === undefined) return;
    const seed = change.seed ?? (old.seed + 1) >>> 0;
    const size = change.size ?? old.size;
    let lastModified = change.lastModified;
    if (lastModified === undefined) {
      const previous = old.lastModified === null ? Number.NaN : Date.parse(old.lastModified);
      lastModified = Number.isNaN(previous) ? old.lastModified : new Date(previous + 60_000).toUTCString();
    }
    const defaultEtag = old.etag === null ? null : contentEtag(seed, size);
    const etag = change.etag === undefined ? defaultEtag : change.etag;
    const object: OriginObject = { ...old, seed, size, etag, lastModified, version: old.version + 1 };
    if (typeof change.etag === 'string') this.#explicitEtags.add(object);
    this.#objects.set(path, object);
  }

  /** A timer cleared by `close()`; resolves early when the response closes. */
  #delay(ms: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        res.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#timers.add(timer);
      res.once('close', done);
    });
  }

  #notify(): void {
    for (const waiter of this.#waiters) {
      if (waiter.test(this.stats)) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

// ---- module-private helpers

interface Plan {
  status?: { status: number; retryAfter?: string; body?: string };
  reset?: { afterBytes: number; beforeHeaders?: boolean };
  truncate?: number;
  contentRange?: { start?: number; end?: number; total?: number | '*' };
  etag?: string | null;
  lastModified?: string | null;
  ignoreRange?: boolean;
  noLength?: boolean;
  gzip?: boolean;
  pastEof416?: boolean;
  latencyMs: number;
  hang?: boolean;
  waits: PromiseLike<unknown>[];
  change?: Extract<Fault, { type: 'change-object' }>;
}

/** Content computed on demand, or a prepared buffer (gzip). */
type BodySource =
  | { readonly seed: number; readonly start: number; readonly length: number }
  | { readonly buffer: Buffer; readonly length: number };

type ParsedRange =
  | { readonly kind: 'none' }
  | { readonly kind: 'unsatisfiable' }
  | { readonly kind: 'single'; readonly start: number; readonly end: number; readonly lastPos?: number };

const NOT_A_RANGE: ParsedRange = { kind: 'none' };
/** An RFC 9110 §5.6.2 token in lower case. */
const LOWER_TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const EMPTY = Buffer.alloc(0);
const DEFAULT_LAST_MODIFIED = 'Mon, 01 Jan 2024 00:00:00 GMT';
const MAX_THROTTLE_CHUNK = 64 * 1024;
const POOL_LIMIT = 64;

function applyFault(plan: Plan, fault: Fault): void {
  switch (fault.type) {
    case 'status':
      plan.status ??= fault;
      return;
    case 'reset':
      plan.reset ??= fault;
      return;
    case 'truncate':
      plan.truncate ??= fault.afterBytes;
      return;
    case 'content-range':
      plan.contentRange = fault;
      return;
    case 'etag':
      plan.etag = fault.value;
      return;
    case 'last-modified':
      plan.lastModified = fault.value;
      return;
    case 'ignore-range':
      plan.ignoreRange = true;
      return;
    case 'no-length':
      plan.noLength = true;
      return;
    case 'gzip':
      plan.gzip = true;
      return;
    case 'past-eof-416':
      plan.pastEof416 = true;
      return;
    case 'latency':
      plan.latencyMs += fault.ms;
      return;
    case 'hang':
      plan.hang = true;
      return;
    case 'wait':
      plan.waits.push(fault.until);
      return;
    case 'change-object':
      plan.change = fault;
      return;
  }
}

/** Validates a {@link VarySpec} and copies it, so later changes to the caller's object do not leak in. */
function checkVary(vary: VarySpec | '*' | undefined): VarySpec | '*' | undefined {
  if (vary === undefined || vary === '*') return vary;
  if (!LOWER_TOKEN.test(vary.header) || vary.header === '*') {
    throw new RangeError(`Expected \`vary.header\` to be a lower-case header name, got \`${vary.header}\`.`);
  }
  for (const [value, seed] of Object.entries(vary.seeds)) {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(
        `Expected \`vary.seeds[${JSON.stringify(value)}]\` to be an integer, got \`${seed}\`.`,
      );
    }
  }
  return Object.freeze({ header: vary.header, seeds: Object.freeze({ ...vary.seeds }) });
}

/**
 * The variant a request selects: its seed, and its real ETag — derived from that seed unless the object's ETag
 * was given explicitly (shared) or is absent.
 */
function selectVariant(
  object: OriginObject,
  explicitEtag: boolean,
  headers: IncomingHttpHeaders,
): { seed: number; etag: string | null } {
  const { vary } = object;
  if (vary === undefined || vary === '*') return { seed: object.seed, etag: object.etag };
  const value = headerText(headers[vary.header]);
  if (value === undefined || !Object.hasOwn(vary.seeds, value))
    return { seed: object.seed, etag: object.etag };
  const seed = vary.seeds[value] as number;
  const etag = object.etag === null || explicitEtag ? object.etag : contentEtag(seed, object.size);
  return { seed, etag };
}

function textHeaders(length: number): OutgoingHttpHeaders {
  return { 'content-type': 'text/plain', 'content-length': length };
}

/** Bytes per throttled write: about 50 ms worth, at most 64 KiB. */
function throttleChunk(rate: number): number {
  return Math.max(1, Math.min(MAX_THROTTLE_CHUNK, Math.floor(rate / 20)));
}

function drainOf(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

function closedOf(res: ServerResponse): Promise<void> {
  return res.destroyed ? Promise.resolve() : new Promise((resolve) => res.once('close', () => resolve()));
}

/**
 * RFC 9110 §14.1.1–14.2 for one `Range` header: a malformed header or a multi-range request is `none`
 * (served in full, our documented choice); a single range is clamped to the size or `unsatisfiable`.
 */
function parseRange(header: string, size: number): ParsedRange {
  const unit = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (unit === null) return NOT_A_RANGE;
  const specs = (unit[1] ?? '').split(',').filter((spec) => spec.trim() !== '');
  if (specs.length !== 1) return NOT_A_RANGE;
  const match = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(specs[0] ?? '');
  if (match === null) return NOT_A_RANGE;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return NOT_A_RANGE;
  if (first === '') {
    // Suffix range: the last n bytes; n = 0 or an empty representation is unsatisfiable.
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'single', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const lastPos = last === '' ? undefined : Number(last);
  if (lastPos !== undefined && lastPos < start) return NOT_A_RANGE;
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = lastPos === undefined ? size - 1 : Math.min(lastPos, size - 1);
  return lastPos === undefined ? { kind: 'single', start, end } : { kind: 'single', start, end, lastPos };
}

function rangeKey(header: string): string {
  const unit = /^\s*bytes\s*=(.*)$/i.exec(header);
  return unit === null ? header : (unit[1] ?? '').replace(/\s+/g, '');
}

/** RFC 9110 §13.2.2: If-Match, else If-Unmodified-Since (412); then If-None-Match, else If-Modified-Since (304). */
function evaluatePreconditions(
  headers: IncomingHttpHeaders,
  method: string,
  etag: string | null,
  lastModified: string | null,
): 200 | 304 | 412 {
  const ifMatch = headerText(headers['if-match']);
  if (ifMatch !== undefined) {
    if (!listMatches(ifMatch, etag, true)) return 412;
  } else if (isAfter(lastModified, headerText(headers['if-unmodified-since']))) {
    return 412;
  }
  const ifNoneMatch = headerText(headers['if-none-match']);
  if (ifNoneMatch !== undefined) {
    // §13.1.2: a match means "not modified" for GET/HEAD, a failed precondition for anything else.
    if (listMatches(ifNoneMatch, etag, false)) return method === 'GET' || method === 'HEAD' ? 304 : 412;
  } else if (method === 'GET' || method === 'HEAD') {
    const since = headerText(headers['if-modified-since']);
    if (since !== undefined && lastModified !== null && !Number.isNaN(Date.parse(since))) {
      if (!isAfter(lastModified, since)) return 304;
    }
  }
  return 200;
}

/** `*` matches any current representation; otherwise strong (§8.8.3.2) or weak comparison per list member. */
function listMatches(list: string, etag: string | null, strong: boolean): boolean {
  if (list.trim() === '*') return true;
  if (etag === null) return false;
  if (strong && etag.startsWith('W/')) return false;
  const opaque = etag.replace(/^W\//, '');
  return list.split(',').some((member) => {
    const candidate = member.trim();
    if (strong) return candidate === etag;
    return candidate.replace(/^W\//, '') === opaque;
  });
}

/** RFC 9110 §13.1.5: an entity-tag If-Range matches only strongly; a date only when equal to Last-Modified. */
function ifRangeMatches(value: string, etag: string | null, lastModified: string | null): boolean {
  const candidate = value.trim();
  if (candidate.startsWith('"') || candidate.startsWith('W/')) {
    return etag !== null && !etag.startsWith('W/') && candidate === etag;
  }
  const date = Date.parse(candidate);
  return lastModified !== null && !Number.isNaN(date) && Date.parse(lastModified) === date;
}

/** True when `lastModified` is later than a valid HTTP-date `since`, at one-second precision. */
function isAfter(lastModified: string | null, since: string | undefined): boolean {
  if (lastModified === null || since === undefined) return false;
  const a = Date.parse(lastModified);
  const b = Date.parse(since);
  if (Number.isNaN(a) || Number.isNaN(b)) return false;
  return Math.floor(a / 1000) > Math.floor(b / 1000);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function nonNegative(value: number, name: string): number {
  if (!(value >= 0) || !Number.isFinite(value)) {
    throw new RangeError(`Expected \`${name}\` to be a finite number >= 0, got \`${value}\`.`);
  }
  return value;
}

/** FNV-1a: a stable default seed per path, so two objects never serve the same bytes by accident. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
