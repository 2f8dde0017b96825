/**
 * A self-signed certificate for `localhost` and `127.0.0.1`, made by `openssl` (node:crypto cannot make
 * certificates), valid for a day: for tests of HTTPS on either side of the proxy.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Whether `openssl` is on the PATH. */
export const hasOpenssl = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Writes `key.pem` and `cert.pem` into `dir`; returns their paths. */
export function writeSelfSignedCert(dir: string): { readonly key: string; readonly cert: string } {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}
