// Validates Kubernetes objects against the Kubernetes and Gateway API schemas (kubernetes-models,
// @kubernetes-models/gateway-api): the class for each apiVersion/kind, and its JSON-schema check.
import * as gatewayV1 from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import * as admissionV1 from 'kubernetes-models/admissionregistration.k8s.io/v1';
import * as apiextensionsV1 from 'kubernetes-models/apiextensions.k8s.io/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as coreV1 from 'kubernetes-models/v1';

interface ModelClass {
  apiVersion: string;
  kind: string;
  new (data: unknown): { validate(): void };
}

const models = new Map<string, ModelClass>();
for (const group of [coreV1, appsV1, batchV1, policyV1, rbacV1, admissionV1, apiextensionsV1, gatewayV1]) {
  for (const value of Object.values(group)) {
    const m = value as unknown as Partial<ModelClass> | undefined;
    if (typeof value === 'function' && typeof m?.apiVersion === 'string' && typeof m.kind === 'string') models.set(`${m.apiVersion}/${m.kind}`, m as ModelClass);
  }
}

/** Throws with the object's kind/name and the schema's complaint when `obj` is not valid. */
export function validateKubeObject(obj: { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } }): void {
  const key = `${String(obj.apiVersion)}/${String(obj.kind)}`;
  const Model = models.get(key);
  if (Model === undefined) throw new Error(`no schema for ${key}`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${key} ${String(obj.metadata?.name)}: ${(err as Error).message}`);
  }
}
