// A self-signed P-256 certificate and its key, made by openssl, for the test
// servers that speak TLS (a hostile registry, serve's TLS, the token server).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Writes `keyFile` and `certFile` for subject CN `cn`, valid two days; `san` as openssl's subjectAltName, e.g. IP:127.0.0.1. */
export async function selfSignedCert(files: { cert: string; key: string }, cn: string, san?: string): Promise<void> {
  const subject = ['-subj', `/CN=${cn}`, ...(san ? ['-addext', `subjectAltName=${san}`] : [])];
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', ...subject];
  await promisify(execFile)('openssl', [...args, '-keyout', files.key, '-out', files.cert]);
}
