// `kind: Telemetry`: tracing and access-log settings, mesh-wide or for one service (targetRef).
import { Field } from '../reader.js';
import type { Propagation, TelemetryConfig } from '../types.js';
import { resolveServiceRef, type DocMeta, type ResolveContext } from './common.js';

/** Istio's defaults: 1% of new traces sampled, W3C and B3 understood. */
export const TELEMETRY_DEFAULTS = Object.freeze({
  samplingPercentage: 1,
  propagation: Object.freeze(['w3c', 'b3'] as Propagation[]),
  accessLog: true,
});

export function parseTelemetry(meta: DocMeta, spec: Field, ctx: ResolveContext): TelemetryConfig | undefined {
  const f = spec.fields(['targetRef', 'tracing', 'accessLog']);
  const targetField = Field.of(f, 'targetRef', spec);
  let targetService: string | undefined;
  if (targetField.present) {
    const ref = resolveServiceRef(targetField.fields(['group', 'kind', 'name', 'namespace']), targetField, meta, ctx);
    if (ref === undefined) return undefined;
    targetService = ref.service.key;
  }
  const tracingField = Field.of(f, 'tracing', spec);
  const t = tracingField.fields(['samplingPercentage', 'propagation']);
  const samplingField = Field.of(t, 'samplingPercentage', tracingField);
  const sampling = samplingField.number();
  if (sampling !== undefined && (sampling < 0 || sampling > 100)) {
    samplingField.error(`${samplingField.path}: must be from 0 to 100, got ${sampling}`);
  }
  const propField = Field.of(t, 'propagation', tracingField);
  const propagation: readonly (Propagation | undefined)[] = propField.present
    ? (propField.list() ?? []).map((p) => p.oneOf(['w3c', 'b3', 'b3multi'] as const))
    : TELEMETRY_DEFAULTS.propagation;
  if (propField.present && propagation.length === 0) propField.error(`${propField.path}: name at least one of w3c, b3, b3multi`);
  const logField = Field.of(f, 'accessLog', spec);
  const enabled = Field.of(logField.fields(['enabled']), 'enabled', logField).boolean();
  if (propagation.includes(undefined)) return undefined;
  return Object.freeze({
    name: meta.name,
    namespace: meta.namespace,
    targetService,
    tracing: Object.freeze({
      samplingPercentage: sampling ?? TELEMETRY_DEFAULTS.samplingPercentage,
      propagation: Object.freeze([...new Set(propagation as Propagation[])]),
    }),
    accessLog: Object.freeze({ enabled: enabled ?? TELEMETRY_DEFAULTS.accessLog }),
  });
}
