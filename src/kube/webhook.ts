// `meshlight webhook`: a mutating admission webhook (AdmissionReview v1 over TLS). The API server sends
// every pod created in a namespace the MutatingWebhookConfiguration selects; the answer is a JSONPatch
// adding the sidecar, or no patch. The namespace label is matched by the API server (namespaceSelector),
// the pod's own opt-out here, as Istio splits it.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../diagnostics.js';
import { decide, injectTemplate, InjectError } from './inject.js';
import { podPatch } from './json-patch.js';
import { NAMESPACE_LABEL } from './names.js';
import { isObject, type PodTemplate } from './pod.js';
import type { SidecarSettings } from './sidecar-template.js';

export interface WebhookOptions {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly settings: SidecarSettings;
  readonly log: Logger;
}

/** The API server's own limit on a request body is 3 MiB; anything much larger is not an AdmissionReview. */
const MAX_BODY = 8 * 1024 * 1024;
const SELECTED = { [NAMESPACE_LABEL]: 'enabled' };

export function createWebhookServer(opts: WebhookOptions): Server {
  return createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://webhook').pathname;
    if (path === '/healthz/ready' && req.method === 'GET') return reply(res, 200, 'text/plain', 'ready\n');
    if (path !== '/inject') return reply(res, 404, 'text/plain', 'webhook endpoints: POST /inject, GET /healthz/ready\n');
    if (req.method !== 'POST') return reply(res, 405, 'text/plain', 'POST an AdmissionReview to /inject\n');
    readBody(req).then(
      (body) => {
        const answer = review(body, opts.settings, opts.log);
        if (typeof answer === 'string') return reply(res, 400, 'text/plain', `${answer}\n`);
        reply(res, 200, 'application/json', JSON.stringify(answer));
      },
      (err: Error) => reply(res, 413, 'text/plain', `${err.message}\n`),
    );
  });
}

/** The AdmissionReview answer, or why the request is not one. Exported for the unit test. */
export function review(body: string, settings: SidecarSettings, log: Logger): object | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (!isObject(parsed) || parsed['apiVersion'] !== 'admission.k8s.io/v1' || parsed['kind'] !== 'AdmissionReview') {
    return 'expected an AdmissionReview of apiVersion admission.k8s.io/v1';
  }
  const request = parsed['request'];
  if (!isObject(request) || typeof request['uid'] !== 'string') return 'AdmissionReview without request.uid';
  const uid = request['uid'];
  const answer = (response: object) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true, ...response } });
  const pod = request['object'];
  const kind = isObject(request['kind']) ? request['kind']['kind'] : undefined;
  if (kind !== 'Pod' || !isObject(pod) || !isObject(pod['spec']) || !Array.isArray(pod['spec']['containers'])) {
    return answer({});
  }
  const ns = typeof request['namespace'] === 'string' ? request['namespace'] : '?';
  const name = isObject(pod['metadata']) ? String(pod['metadata']['name'] ?? pod['metadata']['generateName'] ?? '?') : '?';
  const template = pod as unknown as PodTemplate;
  // The API server selected the namespace (labelled, or the pod labelled itself): here only the pod's
  // own opt-out and its shape count.
  const d = decide(template, SELECTED);
  if (!d.inject) {
    log.debug(`${ns}/${name}: not injected (${d.reason})`);
    return answer({});
  }
  try {
    const injected = injectTemplate(template, settings) as unknown as Record<string, unknown>;
    const patch = podPatch(pod, injected);
    log.info(`${ns}/${name}: injected`);
    return answer({ patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    // Admit the pod as it is, and say why on the kubectl side (a warning) and in the log.
    log.warn(`${ns}/${name}: not injected: ${err.message}`);
    return answer({ warnings: [`meshlight: sidecar not injected: ${err.message}`] });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`AdmissionReview over ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
