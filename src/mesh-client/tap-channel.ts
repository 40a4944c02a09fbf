// The sidecar's tap channel (MeshControl.TapChannel): opened with each config stream (and its token), it
// takes the control plane's start / stop commands into the process's TapPoint and carries the tapped
// requests back.
import type * as grpc from '@grpc/grpc-js';
import type { MeshControlClient, Node, TapBatch, TapCommand } from '../../control-plane/proto/index.js';
import type { Logger } from '../diagnostics.js';
import type { TapPoint } from '../proxy/tap.js';

export class TapChannel {
  private call: grpc.ClientDuplexStream<TapBatch, TapCommand> | undefined;

  constructor(private readonly client: MeshControlClient, private readonly node: Node, private readonly point: TapPoint, private readonly log: Logger) {}

  /** Opens the channel unless it is open; called when the config stream (re)connects, with its metadata. */
  open(metadata: grpc.Metadata): void {
    if (this.call !== undefined) return;
    const call = this.client.TapChannel(metadata);
    this.call = call;
    this.point.attach({ ready: () => !call.writableNeedDrain, send: (batch) => call.write(batch) }, this.node.id);
    call.on('data', (cmd: TapCommand) => {
      if (cmd.stop || cmd.request === null) {
        this.point.stop(cmd.tap_id);
        this.log.debug(`tap ${cmd.tap_id} stopped`);
      } else {
        this.point.start(cmd.tap_id, cmd.request);
        this.log.info(`tap ${cmd.tap_id} started (path ${cmd.request.path_prefix || '*'}, method ${cmd.request.method || '*'})`);
      }
    });
    const ended = (): void => this.close(call);
    call.on('error', ended);
    call.on('end', ended);
    call.write({ node: this.node, tap_id: '', events: [], dropped: 0 });
  }

  /** Ends the channel and every tap on it (the control plane ends them on its side too). */
  close(call = this.call): void {
    if (call === undefined || call !== this.call) return;
    this.call = undefined;
    this.point.attach(undefined, this.node.id);
    call.cancel();
  }
}
