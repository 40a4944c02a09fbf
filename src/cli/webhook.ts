// `meshlight webhook`: the sidecar injector (a mutating admission webhook over TLS).
import { readFile } from 'node:fs/promises';
import { createLogger, LOG_LEVELS } from '../diagnostics.js';
import { listen } from '../proxy/listeners/listen.js';
import { createWebhookServer } from '../kube/webhook.js';
import { PORTS } from '../kube/names.js';
import { sidecarSettings, SIDECAR_FLAGS } from './sidecar-flags.js';
import { untilStopSignal } from './serve.js';
import { helpText, logLevelFlag, parseFlags, portFlag, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  'tls-cert': { type: 'string', help: 'PEM certificate the API server verifies against the caBundle of the webhook configuration' },
  'tls-key': { type: 'string', help: 'PEM private key of --tls-cert' },
  port: { type: 'string', help: 'HTTPS port: POST /inject, GET /healthz/ready', default: String(PORTS.webhook) },
  'bind-address': { type: 'string', help: 'address the port binds', default: '0.0.0.0' },
  ...SIDECAR_FLAGS,
  'log-level': { type: 'string', help: `diagnostics on stderr: ${LOG_LEVELS.join('|')}`, default: 'info' },
};

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, false);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight webhook --tls-cert FILE --tls-key FILE [flags]', FLAGS));
    return 0;
  }
  const certPath = stringFlag(parsed, 'tls-cert');
  const keyPath = stringFlag(parsed, 'tls-key');
  if (certPath === undefined || keyPath === undefined) throw new UsageError('--tls-cert FILE and --tls-key FILE are required (the API server calls webhooks over TLS only)');
  const level = logLevelFlag(parsed);
  const log = createLogger(level, 'meshlight[webhook]');
  const settings = sidecarSettings(parsed);
  const [port, address] = [portFlag(parsed, 'port')!, stringFlag(parsed, 'bind-address')!];
  let server;
  try {
    server = createWebhookServer({ cert: await readFile(certPath), key: await readFile(keyPath), settings, log });
    await listen(server, port, address, 'webhook');
  } catch (err) {
    log.error((err as Error).message);
    return 1;
  }
  log.info(`listening on ${address}:${port}: injecting ${settings.image} (control plane ${settings.controlPlane})`);
  const signal = await untilStopSignal();
  log.info(`${signal}: stopping`);
  await new Promise((res) => server.close(res));
  return 0;
}
