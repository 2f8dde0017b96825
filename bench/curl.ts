/**
 * One GET by `curl -o /dev/null`: a native client costs the server it measures next to nothing, so the time is
 * the server's (curl's `time_total`). Used by case 4's proxy-against-proxy rows and case 7.
 *
 * @module
 */
import { execFile } from 'node:child_process';

/** What one curl GET saw. */
export interface CurlResult {
  readonly status: number;
  /** Body bytes received. */
  readonly bytes: number;
  /** curl's `time_total`, milliseconds. */
  readonly ms: number;
  /** The response's `x-slice-cache` (slice-fetch's cache status), `''` when absent. */
  readonly sliceCache: string;
}

/** Options of {@link curlGet}. */
export interface CurlOptions {
  /** `Range` request header, e.g. `bytes=0-0`. */
  readonly range?: string;
  /** curl's `--max-time`. @default 300 */
  readonly maxSeconds?: number;
}

/**
 * GETs `url` with curl, body to `/dev/null`; rejects when curl fails (or takes longer than `maxSeconds`).
 *
 * @example
 * ```ts
 * const { status, bytes, ms } = await curlGet('http://127.0.0.1:8080/obj-1g');
 * ```
 */
export function curlGet(url: string, options: CurlOptions = {}): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      [
        ...['-s', '-o', '/dev/null', '--max-time', String(options.maxSeconds ?? 300)],
        ...(options.range === undefined ? [] : ['-H', `Range: ${options.range}`]),
        ...['-w', '%{http_code} %{size_download} %{time_total} %header{x-slice-cache}'],
        url,
      ],
      (error, out) => {
        if (error !== null) {
          reject(error);
          return;
        }
        const [status, bytes, seconds, sliceCache = ''] = out.trim().split(' ');
        resolve({
          status: Number(status),
          bytes: Number(bytes),
          ms: Number(seconds) * 1000,
          sliceCache,
        });
      },
    );
  });
}
