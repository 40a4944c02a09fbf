// `meshlight tap SERVICE`: the live requests of a service, from all its sidecars, through the control
// plane (MeshControl.Tap), one line each on stdout, like `linkerd viz tap`. Stops after --max requests,
// on Ctrl-C, or when the control plane goes away.
import * as grpc from '@grpc/grpc-js';
import { meshControl, type TapEvent } from '../../control-plane/proto/index.js';
import { helpText, hostPortFlag, parseFlags, positiveIntFlag, stringFlag, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  'control-plane': { type: 'string', help: "the control plane's gRPC address HOST:PORT", default: '127.0.0.1:15010' },
  path: { type: 'string', help: 'only requests whose path starts with this prefix (e.g. /api)' },
  method: { type: 'string', help: 'only requests with this method (e.g. POST)' },
  max: { type: 'string', help: 'stop after this many requests (default: until Ctrl-C)' },
  output: { type: 'string', help: 'line: one readable line per request; json: the TapEvent as one JSON object per line', default: 'line' },
};

/** `2026-01-01T10:00:00.123Z inbound  GET orders /orders -> 200 3.2ms flags=- src=frontend.default dst=orders.default trace=...` */
export function formatTapLine(e: TapEvent): string {
  const status = e.status === 0 ? '---' : String(e.status);
  return `${new Date(e.start_ms).toISOString()} ${e.direction.padEnd(8)} ${e.method} ${e.authority} ${e.path} -> ${status} ${e.latency_ms.toFixed(1)}ms flags=${e.flags} src=${e.source} dst=${e.destination} trace=${e.trace_id || '-'}`;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, FLAGS, true);
  if (parsed.help) {
    process.stdout.write(helpText('meshlight tap SERVICE [flags]   (SERVICE: name or name.namespace)', FLAGS));
    return 0;
  }
  const [service, ...extra] = parsed.positionals;
  if (service === undefined) throw new UsageError('name the service to tap, e.g. meshlight tap orders');
  if (extra.length > 0) throw new UsageError(`one service at a time; unexpected '${extra[0]}'`);
  const output = stringFlag(parsed, 'output')!;
  if (output !== 'line' && output !== 'json') throw new UsageError(`--output must be line or json, got '${output}'`);
  const address = hostPortFlag(parsed, 'control-plane')!;
  const max = positiveIntFlag(parsed, 'max') ?? 0;
  const client = new (meshControl().Client)(address, grpc.credentials.createInsecure());
  const call = client.Tap({ service, path_prefix: stringFlag(parsed, 'path') ?? '', method: stringFlag(parsed, 'method') ?? '', max });
  let shown = 0;
  const stop = (): void => call.cancel();
  process.once('SIGINT', stop).once('SIGTERM', stop);
  return await new Promise<number>((resolve) => {
    call.on('data', (e: TapEvent) => {
      if (e.notice !== '') return void process.stderr.write(`meshlight tap: ${e.notice}\n`);
      if (e.dropped > 0) process.stderr.write(`meshlight tap: ${e.dropped} requests not shown (the reader fell behind)\n`);
      process.stdout.write(`${output === 'json' ? JSON.stringify(e) : formatTapLine(e)}\n`);
      shown++;
    });
    call.on('error', (err: grpc.ServiceError) => {
      client.close();
      if (err.code === grpc.status.CANCELLED) return resolve(0);
      const why = err.code === grpc.status.UNAVAILABLE ? `the control plane at ${address} is unreachable (${err.details})` : err.details || err.message;
      process.stderr.write(`meshlight tap: ${why}\n`);
      resolve(1);
    });
    call.on('end', () => {
      client.close();
      if (max > 0 && shown < max) process.stderr.write(`meshlight tap: the control plane ended the tap after ${shown} requests\n`);
      resolve(0);
    });
  });
}
