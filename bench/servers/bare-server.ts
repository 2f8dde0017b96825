/**
 * Case 5's floor: bare `node:http` answering `Range: bytes=a-b` with a 206 and that part of the object, held in
 * memory (read from the file at start-up) — no cache lookup, no validation, nothing but Node's HTTP server.
 * Run as `node bare-server.mjs <json>`; prints `LISTENING <port>`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

/** The JSON argument of this server. */
export interface BareServerSpec {
  /** The file served (whatever the request path). */
  readonly file: string;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as BareServerSpec;
const data = readFileSync(spec.file);
const RANGE = /^bytes=(\d+)-(\d+)$/;
const server = createServer((req, res) => {
  const m = RANGE.exec(req.headers.range ?? '');
  const start = m === null ? 0 : Number(m[1]);
  const end = m === null ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
  if (m === null)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
  else
    res.writeHead(206, {
      'content-type': 'application/octet-stream',
      'content-range': `bytes ${start}-${end}/${data.length}`,
      'content-length': end - start + 1,
    });
  res.end(data.subarray(start, end + 1));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
