// kube-proxy's --master: the API server's address over the kubeconfig's, whose credentials
// stay (client-go's BuildConfigFromFlags; kops passes both).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createJsonTransport, loadKubeConfig, resourcesFor } from '../../../../src/sources/kubernetes/index.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer } from '../../../support/fake-apiserver.js';

let server: FakeApiServer;

beforeEach(async () => {
  server = await startFakeApiServer();
});
afterEach(async () => {
  await server.close();
});

describe('loadKubeConfig with a master', () => {
  it('talks to the master with the kubeconfig\'s credentials; without one, to the kubeconfig\'s server', async () => {
    // The kubeconfig names a server nothing listens on (port 9, discard).
    const path = await kubeconfigFor(server, 'kc-token');
    const elsewhere = join(path, '..', 'elsewhere');
    await writeFile(elsewhere, (await readFile(path, 'utf8')).replace(server.url, 'http://127.0.0.1:9'));
    const services = resourcesFor('node-1').Service;
    const list = (master?: string) => createJsonTransport(loadKubeConfig(elsewhere, master)).list({ resource: services, signal: new AbortController().signal });

    await expect(list()).rejects.toThrow();
    await expect(list(server.url)).resolves.toMatchObject({ items: [] });
    expect(server.requests.at(-1)).toMatchObject({ method: 'GET', authorization: 'Bearer kc-token' });
    expect(loadKubeConfig(elsewhere, server.url).getCurrentCluster()?.server).toBe(server.url);
  });
});
