import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { clusterSources, type ClusterObjects } from './objects-to-config.js';

const none: ClusterObjects = { services: [], endpointSlices: [], httpRoutes: [], meshServices: [], telemetries: [] };
const svc = (name: string, ports: object[], namespace = 'shop') => ({ metadata: { name, namespace }, spec: { ports } });
const slice = (service: string, port: object, endpoints: object[]) => ({ metadata: { name: `${service}-1`, namespace: 'shop', labels: { 'kubernetes.io/service-name': service } }, ports: [port], endpoints });

describe('cluster objects as config', () => {
  test("a Service's HTTP port makes a MeshService; its ready endpoints, once each, IPv6 in brackets", () => {
    const sources = clusterSources({
      ...none,
      services: [svc('web', [{ name: 'grpc', port: 9000 }, { name: 'http-web', port: 80 }]), svc('db', [{ name: 'tcp', port: 5432 }]), svc('dns', [{ name: 'http', port: 53 }], 'kube-system')],
      endpointSlices: [
        slice('web', { name: 'http-web', port: 8080 }, [{ addresses: ['10.0.0.2'], conditions: { ready: true } }, { addresses: ['10.0.0.3'], conditions: { ready: false } }, { addresses: ['fd00::4'] }]),
        { ...slice('web', { name: 'http-web', port: 8080 }, [{ addresses: ['10.0.0.2'] }]), metadata: { name: 'web-2', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } } },
      ],
    });
    expect(sources.map((s) => s.file)).toEqual(['Service shop/web']);
    expect(parse(sources[0]!.text).spec).toEqual({ port: 80, protocol: 'http', endpoints: [{ address: '10.0.0.2:8080' }, { address: '[fd00::4]:8080' }] });
    const parsed = parseConfig(sources, { defaultNamespace: 'default' });
    expect(parsed.ok).toBe(true);
  });

  test("a MeshService keeps endpoints it lists, else takes its Service's; status and managedFields are dropped", () => {
    const sources = clusterSources({
      ...none,
      services: [svc('pay', [{ name: 'web', port: 80 }])],
      endpointSlices: [slice('pay', { name: 'web', port: 9090 }, [{ addresses: ['10.0.0.9'] }])],
      meshServices: [
        { apiVersion: 'meshlight.dev/v1alpha1', kind: 'MeshService', metadata: { name: 'pay', namespace: 'shop', managedFields: [{}] }, spec: { port: 80 }, status: { x: 1 } },
        { apiVersion: 'meshlight.dev/v1alpha1', kind: 'MeshService', metadata: { name: 'ext', namespace: 'shop' }, spec: { endpoints: [{ address: 'example.org:80' }] } },
      ],
    });
    expect(sources.map((s) => s.file)).toEqual(['MeshService shop/ext', 'MeshService shop/pay']);
    const pay = parse(sources[1]!.text);
    expect(pay).toEqual({ apiVersion: 'meshlight.dev/v1alpha1', kind: 'MeshService', metadata: { name: 'pay', namespace: 'shop' }, spec: { port: 80, endpoints: [{ address: '10.0.0.9:9090' }] } });
    expect(parse(sources[0]!.text).spec.endpoints).toEqual([{ address: 'example.org:80' }]);
  });
});
