// What the long-running commands (proxy, control-plane) share: start, or explain why not; then wait for a signal.
import { ConfigRejectedError, formatIssue } from '../config/load.js';
import type { Logger } from '../diagnostics.js';

interface Service {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `service`; false (after stopping what did start) with the reason on stderr when it cannot. */
export async function startOrExplain(service: Service, log: Logger): Promise<boolean> {
  try {
    await service.start();
    return true;
  } catch (err) {
    if (err instanceof ConfigRejectedError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      log.error(`config rejected (${err.issues.length} problems); not starting`);
    } else {
      log.error((err as Error).message);
    }
    await service.stop();
    return false;
  }
}

export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise<NodeJS.Signals>((res) => {
    process.once('SIGTERM', res);
    process.once('SIGINT', res);
  });
}
